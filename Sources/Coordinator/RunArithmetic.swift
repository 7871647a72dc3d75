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
    /// re-executes the coordinator with it (and does not return).
    ///
    /// With `--resume`, `auto` prefers the kernel the checkpoint was computed with, so the
    /// continuation has the bits an uninterrupted run would have had; `notice` hears when that
    /// cannot be (before any training).
    static func choose(
        _ request: KernelChoice.Request, threads: Int, allowMixed: Bool, resume: String?,
        notice: (String) -> Void
    ) throws -> RunArithmetic {
        let features = CPUFeatures.current
        let pin = KernelAlignment.inheritedPin
        var choice = try KernelChoice.decide(
            request, features: features, openBLASChoice: KernelAlignment.openBLASChoice, pin: pin)
        if let (checkpointKernel, path) = resume.flatMap(checkpointKernel(in:)),
            checkpointKernel.lowercased() != choice.kernel.lowercased()
        {
            let runnable = BLASKernel.named(checkpointKernel).map { $0.runs(on: features) } ?? false
            if request == .auto, pin == nil, runnable {
                choice = KernelChoice(
                    kernel: checkpointKernel, reason: "\(path) was computed with it", correctsFallback: false)
            } else {
                notice(
                    """
                    \(path) was computed with BLAS kernel \(checkpointKernel), this run computes with \(choice.kernel) \
                    (\(choice.reason)): the continuation will not be bit-identical to an uninterrupted run
                    """)
            }
        }
        try KernelAlignment.ensure(choice.kernel)
        return RunArithmetic(
            kernel: choice.kernel, profile: .current(threads: threads), allowMixed: allowMixed,
            reason: choice.reason)
    }

    /// The kernel recorded in the newest checkpoint of `directory`, and that checkpoint's path.
    static func checkpointKernel(in directory: String) -> (String, String)? {
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
