import ArgumentParser
import Wire

/// `train --compress`: how workers send their partials' gradients.
enum CompressOption: String, CaseIterable, ExpressibleByArgument {
    /// Float32, exactly as computed: the bit-exact default.
    case none
    /// IEEE binary16 with error feedback.
    case fp16
    /// bfloat16 with error feedback.
    case bf16

    /// What WELCOME tells the workers, and what the pool accepts in a PARTIAL.
    var encoding: GradientEncoding {
        switch self {
        case .none: .float32
        case .fp16: .float16
        case .bf16: .bfloat16
        }
    }
}
