/// Finiteness checks over whole buffers, written so the compiler vectorises them.
///
/// A Float is infinite or NaN exactly when its exponent bits are all ones. Adding one unit of
/// the exponent field (1 << 23) to the field alone carries into bit 31 exactly then, so or-ing
/// those sums over a buffer and testing bit 31 checks every value: an and, an add and an or per
/// lane, which runs four or eight lanes at a time on any x86-64 (a max-reduction of unsigned
/// fields, the earlier form, has no SSE2 instruction and cost three times as much), where a
/// short-circuiting `allSatisfy(\.isFinite)` runs one value at a time.
public enum Finiteness {
    /// The exponent field of a Float32, in place.
    public static let exponentMask: UInt32 = 0x7f80_0000
    /// One unit of the exponent field: added to an all-ones field, it carries into bit 31.
    private static let exponentUnit: UInt32 = 0x0080_0000

    /// Whether all `count` values at `values` are finite.
    public static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        values.withMemoryRebound(to: UInt32.self, capacity: count) { bits in
            var marks: UInt32 = 0
            for i in 0..<count { marks |= mark(bits: bits[i]) }
            return allFinite(marks: marks)
        }
    }

    /// `x`'s mark: bit 31 is set exactly when `x` is not finite. Or marks together, then ask
    /// `allFinite(marks:)`.
    @inline(__always)
    static func mark(_ x: Float) -> UInt32 { mark(bits: x.bitPattern) }

    @inline(__always)
    private static func mark(bits: UInt32) -> UInt32 { (bits & exponentMask) &+ exponentUnit }

    /// Each lane's mark, as `mark(_:)` gives it.
    @inline(__always)
    static func marks(_ x: SIMD8<Float>) -> SIMD8<UInt32> {
        (unsafeBitCast(x, to: SIMD8<UInt32>.self) & exponentMask) &+ exponentUnit
    }

    /// Whether every value whose mark went into `marks` (or-ed) is finite.
    @inline(__always)
    static func allFinite(marks: UInt32) -> Bool { marks & 0x8000_0000 == 0 }
}
