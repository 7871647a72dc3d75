/// How a partial's gradients travel (`coordinator train --compress`): Float32 as computed, or
/// rounded to a 16-bit format, with the conversions from Float32 and back. One per run.
///
/// The 16-bit formats round to nearest, ties to even (IEEE 754's default), float16 to the same
/// bits as Swift's `Float16(x)`. Neither turns a finite value into an infinity: a finite value
/// beyond the format's largest is clamped to it first, and `ErrorFeedback` carries the excess into
/// the next step. NaN stays NaN (quieted) and ±∞ stays ±∞, so a partial that has gone non-finite
/// still reaches the coordinator as non-finite.
public enum GradientEncoding: Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 binary32, exactly as computed: the default, and the only bit-exact encoding.
    case float32
    /// IEEE 754 binary16: 10 fraction bits (a relative step of 2⁻¹¹), finite up to ±65504,
    /// subnormal below 2⁻¹⁴ and zero below 2⁻²⁵.
    case float16
    /// bfloat16, the upper half of a binary32: 7 fraction bits (a relative step of 2⁻⁸) over
    /// Float32's whole range.
    case bfloat16

    /// Whether values are rounded to 16 bits (and a worker keeps error feedback).
    public var isSixteenBit: Bool { self != .float32 }

    /// Bytes per value.
    public var byteWidth: Int { isSixteenBit ? 2 : 4 }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        }
    }

    /// The largest finite value of the format: Float32's, 65504, or (2 − 2⁻⁷)·2¹²⁷ ≈ 3.39·10³⁸.
    public var greatestFiniteMagnitude: Float {
        switch self {
        case .float32: .greatestFiniteMagnitude
        case .float16: 65504
        case .bfloat16: Float(bitPattern: 0x7F7F_0000)
        }
    }

    static let notRounded = "float32 values are sent as computed, not as 16-bit patterns"

    /// `x` rounded to the 16-bit format, as its bit pattern.
    @inline(__always)
    public func quantize(_ x: Float) -> UInt16 {
        switch self {
        case .float32: preconditionFailure(Self.notRounded)
        case .float16: Self.float16Bits(x)
        case .bfloat16: Self.bfloat16Bits(x)
        }
    }

    /// The Float32 a bit pattern of the 16-bit format stands for; every one is exactly representable.
    @inline(__always)
    public func dequantize(_ bits: UInt16) -> Float {
        switch self {
        case .float32: preconditionFailure(Self.notRounded)
        case .float16: Self.float(float16Bits: bits)
        case .bfloat16: Self.float(bfloat16Bits: bits)
        }
    }

    /// Converts `count` bit patterns at `bits` to Float32 at `values`.
    public func dequantize(_ bits: UnsafePointer<UInt16>, count: Int, into values: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32: preconditionFailure(Self.notRounded)
        case .float16: for i in 0..<count { values[i] = Self.float(float16Bits: bits[i]) }
        case .bfloat16: for i in 0..<count { values[i] = Self.float(bfloat16Bits: bits[i]) }
        }
    }

    // MARK: float16

    /// `x` as binary16, clamped to ±65504 if finite, rounded to nearest even.
    ///
    /// Bit arithmetic rather than Swift's `Float16(x)`, which on x86-64 without F16C is a call
    /// into a software routine per value, 3× slower over a partial; the tests hold the two to the
    /// same bits (and they were compared on all 2³² inputs once).
    @inline(__always)
    static func float16Bits(_ x: Float) -> UInt16 {
        let bits = clamped(x, to: 65504).bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
        let magnitude = bits & 0x7FFF_FFFF
        let result: UInt16
        if magnitude >= 0x7F80_0000 {
            // ∞, or NaN with its top fraction bits and the quiet bit set.
            result = magnitude == 0x7F80_0000 ? 0x7C00 : 0x7E00 | UInt16(truncatingIfNeeded: magnitude >> 13) & 0x03FF
        } else if magnitude < 0x3880_0000 {
            // Below 2⁻¹⁴, a subnormal or zero: adding 0.5 lines the 10 fraction bits up with
            // the bottom of 0.5's, and the Float32 addition rounds to nearest even for us.
            result = UInt16(truncatingIfNeeded: (Float(bitPattern: magnitude) + 0.5).bitPattern &- 0x3F00_0000)
        } else {
            // Rebias the exponent (127 → 15), then round away the 13 low bits: add just under
            // half of them, plus one when the kept part is odd; a carry may raise the exponent.
            let odd = (magnitude >> 13) & 1
            result = UInt16(truncatingIfNeeded: (magnitude &- 0x3800_0000 &+ 0x0FFF &+ odd) >> 13)
        }
        return result | sign
    }

    /// The Float32 of a binary16 pattern, exactly.
    @inline(__always)
    static func float(float16Bits bits: UInt16) -> Float {
        let magnitude = UInt32(bits & 0x7FFF) << 13
        // Exponent and fraction in Float32's places; scaling by 2¹¹² rebiases the exponent
        // (15 → 127), exactly, for normals and subnormals alike.
        var value = Float(bitPattern: magnitude) * 0x1p112
        if bits & 0x7C00 == 0x7C00 { value = Float(bitPattern: magnitude | 0x7F80_0000) }
        return Float(bitPattern: value.bitPattern | UInt32(bits & 0x8000) << 16)
    }

    // MARK: bfloat16

    /// `x` as bfloat16: the upper 16 bits of the Float32, rounded to nearest even on the 16 bits
    /// dropped, after clamping a finite `x` to the largest finite bfloat16.
    @inline(__always)
    static func bfloat16Bits(_ x: Float) -> UInt16 {
        // Rounding a NaN's bits could carry into the exponent or leave an infinity's pattern
        // (a payload only in the low half): keep its sign and top bits and set the quiet bit.
        guard !x.isNaN else { return UInt16(truncatingIfNeeded: x.bitPattern >> 16) | 0x0040 }
        let bits = clamped(x, to: Float(bitPattern: 0x7F7F_0000)).bitPattern
        // Adding 0x7FFF, plus 1 when the kept half is odd, carries into the kept half exactly when
        // the dropped half is above one half, or is one half and the kept half is odd. A carry
        // out of the fraction raises the exponent, which is the right rounding too.
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    @inline(__always)
    static func float(bfloat16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// A finite `x` limited to ±`limit`; NaN and ±∞ unchanged.
    @inline(__always)
    static func clamped(_ x: Float, to limit: Float) -> Float {
        x.isFinite ? min(max(x, -limit), limit) : x
    }
}
