#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The least memory a training process needs for a network, checked before the network's
/// buffers are allocated: a layer size typed with one zero too many is refused in a moment, naming
/// the bytes, instead of allocating for a minute and aborting.
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

    /// What this process may use: the machine's memory, or less where its cgroup or one above it
    /// (a container's, a SLURM job's limit: v2 `memory.max`, v1 `memory.limit_in_bytes`) says so.
    /// The cgroups are the process's own, from `/proc/self/cgroup`.
    public static func available(cgroupRoot: String = "/sys/fs/cgroup", selfCgroup: String = "/proc/self/cgroup")
        -> UInt64
    {
        var limit = ProcessInfo.processInfo.physicalMemory
        for file in limitFiles(cgroupRoot: cgroupRoot, selfCgroup: selfCgroup) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                let value = UInt64(text.filter { !$0.isWhitespace })
            else { continue }
            limit = min(limit, value)
        }
        return limit
    }

    /// The limit files of this process's memory cgroups (v1 and v2) and of their ancestors.
    static func limitFiles(cgroupRoot: String, selfCgroup: String) -> [String] {
        var files: [String] = []
        let lines = (try? String(contentsOfFile: selfCgroup, encoding: .utf8)) ?? ""
        for line in lines.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            var path = String(fields[2])
            while true {
                let directory = path == "/" ? "" : path
                if fields[1] == "memory" { files.append(cgroupRoot + "/memory" + directory + "/memory.limit_in_bytes") }
                if fields[0] == "0", fields[1].isEmpty {
                    files += [
                        cgroupRoot + directory + "/memory.max", cgroupRoot + "/unified" + directory + "/memory.max",
                    ]
                }
                guard let slash = path.lastIndex(of: "/"), path != "/" else { break }
                path = slash == path.startIndex ? "/" : String(path[..<slash])
            }
        }
        return files
    }

    /// Whether the network fits in `available` bytes (default: `available()`).
    public func fits(in available: UInt64 = MemoryEstimate.available()) -> Bool { UInt64(bytes) <= available }

    /// Refuses a model that needs more than `available` bytes (default: `available()`).
    public func check(available: UInt64 = MemoryEstimate.available()) throws(ConfigurationError) {
        guard UInt64(bytes) > available else { return }
        throw .invalid(
            field: "--layers",
            reason:
                "the network has \(parameters) parameters and needs at least \(Self.gigabytes(bytes)) of memory to train (weights, gradients, optimizer state, a batch's activations), more than this machine's \(Self.gigabytes(Int(clamping: available)))"
        )
    }

    public static func gigabytes(_ bytes: Int) -> String {
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
