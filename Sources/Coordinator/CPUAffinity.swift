import Foundation

/// Which CPUs a thread may run on (Linux's sched_getaffinity / sched_setaffinity).
///
/// Local workers are pinned one to a CPU when there are CPUs enough, so the scheduler does not
/// move them (and their caches) between cores (docs/PERFORMANCE.md, decisions).
enum CPUAffinity {
    /// The CPUs this thread may run on, in increasing order; empty if the system will not say.
    static func allowed() -> [Int] {
        var set = cpu_set_t()
        guard getAffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else { return [] }
        return withUnsafeBytes(of: &set) { bytes in
            (0..<bytes.count * 8).filter { cpu in bytes[cpu / 8] & (1 << UInt8(cpu % 8)) != 0 }
        }
    }

    /// Runs `body` with the calling thread allowed only `cpu`, then restores its mask. A process
    /// started in `body` inherits the single CPU, with every thread it makes.
    static func withThread<T>(on cpu: Int, _ body: () throws -> T) rethrows -> T {
        var saved = cpu_set_t()
        guard getAffinity(0, MemoryLayout<cpu_set_t>.size, &saved) == 0 else { return try body() }
        var only = cpu_set_t()
        withUnsafeMutableBytes(of: &only) { bytes in bytes[cpu / 8] |= 1 << UInt8(cpu % 8) }
        guard cpu < MemoryLayout<cpu_set_t>.size * 8, setAffinity(0, MemoryLayout<cpu_set_t>.size, &only) == 0 else {
            return try body()
        }
        defer { _ = setAffinity(0, MemoryLayout<cpu_set_t>.size, &saved) }
        return try body()
    }
}

// glibc's sched_getaffinity and sched_setaffinity (pid 0: the calling thread); <sched.h> declares
// them only under _GNU_SOURCE, which the Glibc module is not built with.
@_silgen_name("sched_getaffinity")
private func getAffinity(_ pid: pid_t, _ size: Int, _ mask: UnsafeMutablePointer<cpu_set_t>) -> Int32
@_silgen_name("sched_setaffinity")
private func setAffinity(_ pid: pid_t, _ size: Int, _ mask: UnsafePointer<cpu_set_t>) -> Int32
