/// How a PARTIAL's gradients travel: Float32 as computed, or rounded to a 16-bit format when the
/// run compresses them (`coordinator train --compress`). One per run, announced in WELCOME.
public enum GradientEncoding: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 binary32, exactly as computed: the default, and the only bit-exact encoding.
    case float32 = 0
    /// IEEE 754 binary16 bit patterns: 1 sign, 5 exponent and 10 fraction bits.
    case float16 = 1
    /// bfloat16 bit patterns, the upper half of a binary32: 1 sign, 8 exponent and 7 fraction bits.
    case bfloat16 = 2

    /// Bytes per value on the wire.
    public var byteWidth: Int { self == .float32 ? 4 : 2 }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        }
    }
}
