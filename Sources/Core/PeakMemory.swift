#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A process's peak resident set size, from Linux's /proc (VmHWM).
public enum PeakMemory {
    /// Kilobytes; `pid` nil means this process. Nil when /proc does not say (not Linux, or gone).
    public static func residentKilobytes(pid: Int32? = nil) -> Int? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let status = try? String(contentsOfFile: path, encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// This process's peak, in megabytes.
    public static func residentMegabytes() -> Double? {
        residentKilobytes().map { Double($0) / 1024 }
    }
}
