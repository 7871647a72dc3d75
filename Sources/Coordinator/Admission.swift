import Core

/// Whether a registering worker computes as the run does: the same architecture, elementary
/// functions and BLAS kernel, or a kernel it can switch to. A pure decision over profiles.
enum Admission: Equatable {
    /// It computes with the run's kernel already.
    case admit
    /// It can run the run's kernel but computes with another: it switches and registers again.
    case align(kernel: String)
    /// It cannot match, and `--allow-mixed-arithmetic` admits it on its own kernel anyway.
    case admitMixed(problem: String)
    /// It cannot match: why, and what would let every process so far compute alike.
    case refuse(problem: String, fix: String)

    /// The verdict on `worker` for `run`; `admitted` are the profiles of the workers already in.
    static func decide(_ worker: ArithmeticProfile, run: RunArithmetic, admitted: [ArithmeticProfile]) -> Admission {
        guard let problem = worker.mismatch(runKernel: run.kernel, run: run.profile) else {
            return worker.kernel.lowercased() == run.kernel.lowercased() ? .admit : .align(kernel: run.kernel)
        }
        if run.allowMixed { return .admitMixed(problem: problem) }
        return .refuse(problem: problem, fix: fix(for: worker, run: run, admitted: admitted))
    }

    /// The kernel every process so far (and `worker`) can run, as the flag to restart with.
    static func fix(for worker: ArithmeticProfile, run: RunArithmetic, admitted: [ArithmeticProfile]) -> String {
        let mixed = "or --allow-mixed-arithmetic to admit it without bit-reproducibility"
        if worker.features.architecture != run.profile.features.architecture {
            return "run every process on \(run.profile.features.architecture), \(mixed)"
        }
        if worker.elementary != run.profile.elementary {
            return "start the worker from the coordinator's build of Descent, \(mixed)"
        }
        let everyone = [run.profile] + admitted + [worker]
        let common: BLASKernel?
        if let pinned = worker.pin.map({ _ in worker.kernel }) {
            common = BLASKernel.named(pinned).flatMap { kernel in
                everyone.allSatisfy { kernel.runs(on: $0.features) && ($0.pin == nil || $0.kernel == kernel.name) }
                    ? kernel : nil
            }
        } else {
            common = BLASKernel.bestCommon(everyone.map(\.features))
        }
        guard let common else { return "no kernel suits every process so far; \(mixed)" }
        return "restart the run with --blas-kernel \(common.name) (every process so far can run it), \(mixed)"
    }
}
