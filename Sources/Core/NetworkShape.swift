#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// What a network is, without its numbers: layer sizes n0…nL, the hidden activation, the output.
public struct NetworkShape: Sendable, Equatable, CustomStringConvertible {
    /// n0 (features) … nL (classes, or 1 for a sigmoid output).
    public let layers: [Int]
    public let activation: Activation

    public var output: OutputLayer { OutputLayer(classes: layers.last!) }
    /// L, the number of weight layers.
    public var depth: Int { layers.count - 1 }
    public var inputs: Int { layers[0] }
    public var outputs: Int { layers[depth] }

    public init(layers: [Int], activation: Activation) throws(ConfigurationError) {
        guard layers.count >= 2 else {
            throw .invalid(
                field: "layers", reason: "needs at least two sizes (inputs and outputs), got \(layers.count)")
        }
        if let bad = layers.first(where: { $0 < 1 }) {
            throw .invalid(field: "layers", reason: "every size must be at least 1, got \(bad)")
        }
        self.layers = layers
        self.activation = activation
    }

    /// Parses "784,256,128,10".
    public init(parsing text: String, activation: Activation) throws(ConfigurationError) {
        var sizes: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            var digits = part
            while digits.first?.isWhitespace == true { digits.removeFirst() }
            while digits.last?.isWhitespace == true { digits.removeLast() }
            guard let n = Int(digits) else {
                throw .invalid(field: "layers", reason: "'\(part)' in '\(text)' is not a whole number")
            }
            sizes.append(n)
        }
        try self.init(layers: sizes, activation: activation)
    }

    /// The layer sizes as the contract writes them: "784,256,128,10".
    public var layersText: String { layers.map(String.init).joined(separator: ",") }

    public var description: String { "\(layersText) \(activation.rawValue)/\(output.rawValue)" }

    /// Floating-point operations of one forward and backward pass per example: 2·n_l·n_{l−1} per
    /// gemm, three gemms per layer (Z, dW, dA) except dA of the first layer.
    public var trainingFlopsPerExample: Double {
        var flops = 0.0
        for l in 1...depth {
            let gemm = 2.0 * Double(layers[l]) * Double(layers[l - 1])
            flops += gemm * (l == 1 ? 2 : 3)
        }
        return flops
    }
}
