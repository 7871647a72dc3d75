/// Why a worker stopped before the coordinator said goodbye.
enum WorkerError: Error, CustomStringConvertible {
    case noCoordinator(endpoint: String, seconds: Double, curve: Bool)
    case handshakeFailed(endpoint: String, detail: String)
    case refused(reason: String)
    /// The run computes with another BLAS kernel, which this worker can run: it switches (by
    /// re-executing itself) and registers again.
    case switchKernel(String)
    /// The kernel this worker computes with fails the gemm check on this CPU.
    case kernelCheckFailed(String)
    case coordinatorLost(endpoint: String, seconds: Double)
    case parentExited
    case protocolViolation(String)
    /// Steps among the local workers ended before their span did (LOCAL_STEPS).
    case localStepsAbandoned(String)
    /// The network the coordinator welcomed this worker to does not fit in its memory.
    case notEnoughMemory(String)
    /// An item of `DESCENT_FAULTS` that is not `ACTION@RANK=VALUE`.
    case unreadableFaults(String)

    var description: String {
        switch self {
        case .noCoordinator(let endpoint, let seconds, let curve):
            return "no coordinator answered at \(endpoint) within \(seconds) s "
                + "(is it running, and is the endpoint right? "
                + (curve
                    ? "With CURVE: is --server-public-key the coordinator's, and is this worker's key authorized?)"
                    : "If the coordinator uses CURVE, this worker needs --curve-secret-key and --server-public-key.)")
        case .handshakeFailed(let endpoint, let detail):
            return "cannot connect to \(endpoint): \(detail)"
        case .refused(let reason):
            return "the coordinator refused this worker: \(reason)"
        case .switchKernel(let kernel):
            return "the run computes with BLAS kernel \(kernel), and this worker could not switch to it"
        case .kernelCheckFailed(let detail):
            return "\(detail)"
        case .coordinatorLost(let endpoint, let seconds):
            return "lost the coordinator at \(endpoint): silent for \(seconds) s"
        case .parentExited:
            return "the coordinator process that started this worker has exited"
        case .notEnoughMemory(let detail):
            return detail
        case .localStepsAbandoned(let why):
            return "the local steps were given up: \(why)"
        case .protocolViolation(let detail):
            return "the coordinator sent something this worker cannot use: \(detail)"
        case .unreadableFaults(let item):
            return "\(FaultPlan.environmentVariable): cannot read '\(item)' (expected ACTION@RANK=VALUE)"
        }
    }
}
