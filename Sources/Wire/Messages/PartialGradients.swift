import Core

/// A PARTIAL's Σ dW and db as they travel: Float32 values, or the 16-bit bit patterns of a run
/// that compresses its partials. The case is the partial's `GradientEncoding`.
public enum PartialGradients: Sendable, Equatable {
    case float32(FloatArray)
    case float16(HalfArray)
    case bfloat16(HalfArray)

    /// `bits` as the 16-bit `encoding` says they are to be read.
    public init(_ encoding: GradientEncoding, bits: HalfArray) {
        switch encoding {
        case .float32: preconditionFailure("float32 gradients are a FloatArray, not 16-bit patterns")
        case .float16: self = .float16(bits)
        case .bfloat16: self = .bfloat16(bits)
        }
    }

    public var encoding: GradientEncoding {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        }
    }

    /// How many values, whatever their width.
    public var count: Int {
        switch self {
        case .float32(let values): values.count
        case .float16(let bits), .bfloat16(let bits): bits.count
        }
    }

    /// The values' little-endian bytes, `encoding.byteWidth × count` of them, in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .float32(let values): try values.withUnsafeBytes(body)
        case .float16(let bits), .bfloat16(let bits): try bits.withUnsafeBytes(body)
        }
    }
}
