#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The least memory a training process needs for a network, checked before anything is
/// allocated: a layer size typed with one zero too many is refused in a moment, naming the bytes,
/// instead of allocating for a minute and aborting.
///
/// Counted: W and b, the gradient sum and one partial (4 bytes a parameter each), the optimizer's
/// state (momentum 1, adam 2 vectors), and a batch's activations (Z, A and dZ of every layer).
/// Data and message buffers come on top, so this is a lower bound; every product is checked for
/// overflow.
public struct MemoryEstimate: Sendable {
    public let parameters: Int
    public let bytes: Int

    public init(shape: NetworkShape, batch: Int, optimizer: OptimizerKind) throws(ConfigurationError) {
        var parameters = 0
        var units = 0
        for l in 1...shape.depth {
            guard let weights = Self.product(shape.layers[l], shape.layers[l - 1]),
                let sum = Self.sum(parameters, weights, shape.layers[l])
            else { throw Self.overflow(shape) }
            parameters = sum
            guard let total = Self.sum(units, shape.layers[l]) else { throw Self.overflow(shape) }
            units = total
        }
        let vectors = 3 + (optimizer == .adam ? 2 : optimizer == .momentum ? 1 : 0)
        let columns = max(batch, 1)
        guard let parameterBytes = Self.product(parameters, 4 * vectors),
            let activationBytes = Self.product(units, columns, 12),
            let bytes = Self.sum(parameterBytes, activationBytes)
        else { throw Self.overflow(shape) }
        self.parameters = parameters
        self.bytes = bytes
    }

    /// Refuses a model that needs more than `available` bytes (default: this machine's memory).
    public func check(available: UInt64 = ProcessInfo.processInfo.physicalMemory) throws(ConfigurationError) {
        guard UInt64(bytes) > available else { return }
        throw .invalid(
            field: "--layers",
            reason:
                "the network has \(parameters) parameters and needs at least \(Self.gigabytes(bytes)) of memory to train (weights, gradients, optimizer state, a batch's activations), more than this machine's \(Self.gigabytes(Int(clamping: available)))"
        )
    }

    static func gigabytes(_ bytes: Int) -> String {
        let tenths = bytes / 100_000_000
        return "\(tenths / 10).\(tenths % 10) GB (\(bytes) bytes)"
    }

    private static func product(_ factors: Int...) -> Int? {
        var result = 1
        for factor in factors {
            let (value, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            result = value
        }
        return result
    }

    private static func sum(_ terms: Int...) -> Int? {
        var result = 0
        for term in terms {
            let (value, overflow) = result.addingReportingOverflow(term)
            if overflow { return nil }
            result = value
        }
        return result
    }

    private static func overflow(_ shape: NetworkShape) -> ConfigurationError {
        .invalid(field: "--layers", reason: "\(shape.layersText): the parameter count overflows a 64-bit integer")
    }
}
