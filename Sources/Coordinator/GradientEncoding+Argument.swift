import ArgumentParser
import Core

/// `train --compress none|fp16|bf16` (also a config file's `compress:`): how workers send their
/// partials' gradients.
extension GradientEncoding: ExpressibleByArgument {
    /// The encoding's name on the command line.
    var argument: String {
        switch self {
        case .float32: "none"
        case .float16: "fp16"
        case .bfloat16: "bf16"
        }
    }

    public init?(argument: String) {
        guard let encoding = Self.allCases.first(where: { $0.argument == argument }) else { return nil }
        self = encoding
    }

    public var defaultValueDescription: String { argument }

    public static var allValueStrings: [String] { allCases.map(\.argument) }
}
