#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The instruction-set facts that decide which BLAS kernels a CPU can run: its architecture and
/// the features of it that some kernel needs, as the operating system reports them (cpuid on
/// x86-64, through /proc/cpuinfo, which also drops what the kernel does not enable).
public struct CPUFeatures: Sendable, Equatable {
    /// `x86_64`, `aarch64`…: processes on different architectures never compute the same bits.
    public var architecture: String
    /// The features some kernel in `BLASKernel.known` needs, e.g. `["avx", "avx2", "fma"]`.
    public var flags: [String]

    public init(architecture: String, flags: [String]) {
        self.architecture = architecture
        self.flags = flags
    }

    /// The features that matter to a kernel choice; the rest of cpuinfo's list is noise here.
    static let relevant: Set<String> = [
        "sse3", "ssse3", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq",
        "avx512vl", "avx512_bf16", "asimd", "sve",
    ]

    /// This machine's, read once.
    public static let current: CPUFeatures = {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return CPUFeatures(architecture: machine, cpuinfo: text)
    }()

    /// From /proc/cpuinfo's first `flags` (x86) or `Features` (arm) line; `pni` is cpuinfo's SSE3.
    public init(architecture: String, cpuinfo: String) {
        let line = cpuinfo.split(separator: "\n").first {
            $0.hasPrefix("flags") || $0.hasPrefix("Features")
        }
        let words = line.map { $0.split(separator: ":", maxSplits: 1).last ?? "" } ?? ""
        let flags = words.split(separator: " ").map { $0 == "pni" ? "sse3" : String($0) }
        self.init(architecture: architecture, flags: Array(Set(flags.filter { Self.relevant.contains($0) })).sorted())
    }

    public func has(_ required: Set<String>) -> Bool { required.isSubset(of: Set(flags)) }
}
