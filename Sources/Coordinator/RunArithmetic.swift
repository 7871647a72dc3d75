import Core
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The arithmetic a run computes with: one BLAS kernel for every process, the coordinator's
/// profile that workers are compared with, and whether workers that cannot match are admitted.
struct RunArithmetic {
    /// The kernel every process computes with, e.g. `Haswell`.
    var kernel: String
    /// The coordinator's profile, on `kernel`.
    var profile: ArithmeticProfile
    /// `--allow-mixed-arithmetic`: admit a worker that cannot compute as the run does, and mark
    /// the run as not bit-reproducible.
    var allowMixed = false
    /// Why this kernel, for the log.
    var reason = ""

    /// This process as it computes now: for runs (and tests) that choose nothing.
    static func current(threads: Int) -> RunArithmetic {
        let profile = ArithmeticProfile.current(threads: threads)
        return RunArithmetic(kernel: profile.kernel, profile: profile)
    }

    /// Chooses the run's kernel and puts this process on it: returns once it computes with it, or
    /// re-executes the process with it (and does not return).
    ///
    /// `recorded` is the kernel a file this run continues from was computed with (a checkpoint
    /// to resume, a model to evaluate) and that file: `auto` prefers it where this CPU runs it,
    /// so the numbers are the ones the file's run would have had; `notice` hears when that cannot
    /// be, before any work.
    static func choose(
        _ request: KernelChoice.Request, threads: Int, allowMixed: Bool = false,
        recorded: (kernel: String, source: String)?, notice: (String) -> Void
    ) throws -> RunArithmetic {
        let features = CPUFeatures.current
        let pin = KernelAlignment.inheritedPin
        var choice = try KernelChoice.decide(
            request, features: features, openBLASChoice: KernelAlignment.openBLASChoice, pin: pin)
        if let recorded, recorded.kernel.lowercased() != choice.kernel.lowercased() {
            let runnable = BLASKernel.named(recorded.kernel).map { $0.runs(on: features) } ?? false
            if request == .auto, pin == nil, runnable {
                choice = KernelChoice(
                    kernel: recorded.kernel, reason: "\(recorded.source) was computed with it", correctsFallback: false)
            } else {
                notice(
                    """
                    \(recorded.source) was computed with BLAS kernel \(recorded.kernel), this run computes with \
                    \(choice.kernel) (\(choice.reason)): its numbers will not be bit-identical to that run's
                    """)
            }
        }
        try KernelAlignment.ensure(choice.kernel)
        return RunArithmetic(
            kernel: choice.kernel, profile: .current(threads: threads), allowMixed: allowMixed,
            reason: choice.reason)
    }

    /// The kernel recorded in the newest checkpoint of `directory`, and that checkpoint's path.
    static func checkpointKernel(in directory: String) -> (kernel: String, source: String)? {
        guard let newest = try? Checkpoint.list(directory).last else { return nil }
        let path = PathName.join(directory, newest)
        guard let file = try? SafetensorsFile.read(from: path), let kernel = file.metadata["blas_kernel"] else {
            return nil
        }
        return (kernel, path)
    }

    /// One line for the log: the kernel, why, and the rest of the profile.
    var summary: String {
        "BLAS kernel \(kernel) (\(reason)); \(profile.threads) thread(s), \(profile.features.summary), "
            + "\(profile.blasVersion), elementary functions \(profile.elementary)"
    }
}
