import Logging
import Wire

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Faults a test asks a worker to commit on purpose, carried out by a `FaultInjectingTransport`
/// under the worker's link, in the spirit of ps-lite's PS_DROP_MSG.
///
/// Read from the environment variable `DESCENT_FAULTS`, which only tests set: a comma-separated
/// list of `ACTION@RANK=VALUE` (RANK is the rank the coordinator assigns; `*` means every rank):
/// - `delay@R=MS` — hold every PARTIAL message back MS milliseconds before sending it;
/// - `exit@R=STEP` — exit abruptly (status 3, no goodbye) on receiving step STEP;
/// - `stall@R=STEP` — stop the process (SIGSTOP: alive, silent) on receiving step STEP;
/// - `nan@R=STEP` — send NaN gradients for step STEP, in well-formed frames;
/// - `version@*=V` — claim protocol version V when registering.
struct FaultPlan {
    enum Action: String {
        case delay, exit, stall, nan, version
    }

    struct Fault {
        let action: Action
        /// Nil for every rank.
        let rank: UInt32?
        let value: Int
    }

    private(set) var faults: [Fault] = []

    static let environmentVariable = "DESCENT_FAULTS"

    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let text = environment[FaultPlan.environmentVariable], !text.isEmpty else { return }
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            let target = parts.first?.split(separator: "@", maxSplits: 1) ?? []
            guard parts.count == 2, target.count == 2, let action = Action(rawValue: String(target[0])),
                let value = Int(parts[1]), value >= 0, action != .version || value <= Int(UInt16.max),
                target[1] == "*" || UInt32(target[1]) != nil
            else {
                throw WorkerError.unreadableFaults(String(item))
            }
            faults.append(Fault(action: action, rank: target[1] == "*" ? nil : UInt32(target[1]), value: value))
        }
    }

    /// The milliseconds `delay@R` holds rank `rank`'s partials back: in a span of local steps,
    /// each step is held back as long (LOCAL_STEPS), which changes no bit either.
    func delayMilliseconds(rank: Int) -> Int {
        faults.filter { $0.action == .delay && ($0.rank == nil || $0.rank == UInt32(rank)) }.map(\.value).max() ?? 0
    }

    /// `transport` with the plan's faults injected into its messages; as it is when there are none.
    func layer(over transport: any WorkerTransport, log: Logger) -> any WorkerTransport {
        guard !faults.isEmpty else { return transport }
        return FaultInjectingTransport(wrapping: transport, rules: faults.map(\.rule)) { halt, kind, step in
            switch halt {
            case .exit:
                log.warning("fault injection: exiting at step \(step)")
            case .stop:
                log.warning("fault injection: stopping this process (SIGSTOP) at step \(step)")
            }
            FaultInjectingTransport.haltProcess(halt)
        }
    }
}

extension FaultPlan.Fault {
    /// The transport's rule for this fault.
    var rule: FaultRule {
        let step = UInt64(value)
        switch action {
        case .delay: return FaultRule(.outgoing, .partial, rank: rank, action: .delay(.milliseconds(value)))
        case .exit: return FaultRule(.incoming, .step, step: step, rank: rank, action: .halt(.exit(status: 3)))
        case .stall: return FaultRule(.incoming, .step, step: step, rank: rank, action: .halt(.stop))
        case .nan: return FaultRule(.outgoing, .partial, step: step, rank: rank, action: .corrupt(.nanGradients))
        case .version:
            return FaultRule(.outgoing, .hello, rank: rank, action: .corrupt(.protocolVersion(UInt16(value))))
        }
    }
}
