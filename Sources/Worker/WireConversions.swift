import Core
import Wire

extension GradientEncoding {
    /// The 16-bit format partials are rounded to, or nil for Float32.
    var compression: GradientCompression? {
        switch self {
        case .float32: nil
        case .float16: .float16
        case .bfloat16: .bfloat16
        }
    }
}

extension Wire.ExampleSelection {
    /// The same selection in Core's terms.
    var core: Core.ExampleSelection {
        switch self {
        case .range(let start, let count): return .range(Int(start)..<Int(start) + Int(count))
        case .list(let indices): return .list(indices.map { Int32(bitPattern: $0) })
        }
    }
}
