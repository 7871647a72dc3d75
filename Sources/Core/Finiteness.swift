/// Finiteness checks over whole buffers, written so the compiler vectorises them.
///
/// A Float is infinite or NaN exactly when its exponent bits are all ones; the largest exponent
/// field over a buffer is an integer max-reduction, which runs eight lanes at a time, where a
/// short-circuiting `allSatisfy(\.isFinite)` runs one value at a time.
public enum Finiteness {
    /// The exponent field of a Float32, in place.
    public static let exponentMask: UInt32 = 0x7f80_0000

    /// Whether all `count` values at `values` are finite.
    public static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        values.withMemoryRebound(to: UInt32.self, capacity: count) { bits in
            var largest: UInt32 = 0
            for i in 0..<count { largest = max(largest, bits[i] & exponentMask) }
            return largest != exponentMask
        }
    }

    /// The exponent field of `x`: equal to `exponentMask` exactly when `x` is not finite.
    @inline(__always)
    static func exponent(_ x: Float) -> UInt32 { x.bitPattern & exponentMask }
}
