#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Faults a test asks a worker to commit on purpose, in the spirit of ps-lite's PS_DROP_MSG.
///
/// Read from the environment variable `DESCENT_FAULTS`, which only tests set: a comma-separated
/// list of `ACTION@RANK=VALUE` (RANK is the rank the coordinator assigns; `*` means every rank):
/// - `delay@R=MS` — hold every partial back MS milliseconds before sending it;
/// - `exit@R=STEP` — exit abruptly (status 3, no goodbye) on receiving step STEP;
/// - `stall@R=STEP` — stop the process (SIGSTOP: alive, silent) on receiving step STEP;
/// - `pause@R=STEP` — stop the process when step STEP's PARAMS arrives as a reference to shared
///   parameters, before it is read;
/// - `nan@R=STEP` — send NaN gradients for step STEP;
/// - `version@*=V` — claim protocol version V when registering.
struct FaultPlan {
    enum Action: String {
        case delay, exit, stall, pause, nan, version
    }

    struct Fault {
        let action: Action
        let rank: Int?
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
                  let value = Int(parts[1]), target[1] == "*" || Int(target[1]) != nil else {
                throw WorkerError.protocolViolation("\(FaultPlan.environmentVariable): cannot read '\(item)' (expected ACTION@RANK=VALUE)")
            }
            faults.append(Fault(action: action, rank: target[1] == "*" ? nil : Int(target[1]), value: value))
        }
    }

    /// The value of `action` for `rank`, if the plan has one.
    func value(_ action: Action, rank: Int?) -> Int? {
        faults.first { $0.action == action && ($0.rank == nil || $0.rank == rank) }?.value
    }
}
