/// An OpenBLAS kernel, by the name `OPENBLAS_CORETYPE` takes and `openblas_get_corename` reports,
/// with the instruction-set features it needs and its tier (wider vectors, higher tier).
///
/// Only kernels `auto` may choose or a user may name are listed; a process may still run another
/// (OpenBLAS's own choice on an architecture this table does not cover), and keep it.
public struct BLASKernel: Sendable, Equatable {
    public let name: String
    public let tier: Int
    public let requires: Set<String>

    static let avx512: Set<String> = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]

    /// Best first; within a tier the first is the tier's default for a CPU OpenBLAS misjudged.
    public static let known: [BLASKernel] = [
        BLASKernel(name: "SkylakeX", tier: 4, requires: avx512),
        BLASKernel(name: "Cooperlake", tier: 4, requires: avx512.union(["avx512_bf16"])),
        BLASKernel(name: "Haswell", tier: 3, requires: ["avx2", "fma"]),
        BLASKernel(name: "Zen", tier: 3, requires: ["avx2", "fma"]),
        BLASKernel(name: "Sandybridge", tier: 2, requires: ["avx"]),
        BLASKernel(name: "Nehalem", tier: 1, requires: ["sse4_2"]),
        BLASKernel(name: "Core2", tier: 0, requires: ["ssse3"]),
        BLASKernel(name: "Prescott", tier: 0, requires: ["sse3"]),
    ]

    /// The listed kernel called `name`, in any case.
    public static func named(_ name: String) -> BLASKernel? {
        known.first { $0.name.lowercased() == name.lowercased() }
    }

    public static var knownNames: String { known.map(\.name).joined(separator: ", ") }

    /// Whether a CPU with `features` can run this kernel.
    public func runs(on features: CPUFeatures) -> Bool {
        features.architecture == "x86_64" && features.has(requires)
    }

    /// The best tier's kernels that `features` runs, its default first; empty off x86-64.
    public static func bestTier(for features: CPUFeatures) -> [BLASKernel] {
        let runnable = known.filter { $0.runs(on: features) }
        guard let top = runnable.map(\.tier).max() else { return [] }
        return runnable.filter { $0.tier == top }
    }

    /// The best kernel that every CPU in `all` runs; nil when they share none (or no x86-64).
    public static func bestCommon(_ all: [CPUFeatures]) -> BLASKernel? {
        known.first { kernel in all.allSatisfy { kernel.runs(on: $0) } }
    }
}
