import Core
import Logging

/// Keeps `/status` current while a step runs and, when the step waits longer than usual, logs
/// whom it waits for (`HangWatch`): a stuck run explains itself without a debugger.
final class StepWatch {
    let status: RunStatus
    private var hang = HangWatch()
    private var started = ContinuousClock.now
    private var lastUpdate = ContinuousClock.now
    private let log: Logger

    /// The usual step time so far, in seconds; nil before the first step ends.
    var typicalStepSeconds: Double? { hang.typicalSeconds }

    init(status: RunStatus, log: Logger) {
        self.status = status
        self.log = log
    }

    /// `step` has begun: its partials are asked of the workers.
    func begin(step: Int, membership: Membership, work: [Int: ShardWork], accumulator: GradientAccumulator) {
        started = .now
        hang.begin()
        publish(step: step, state: "waiting", membership: membership, work: work, accumulator: accumulator)
    }

    /// While the step waits: `/status` a few times a second, and a warning when it is late.
    func check(step: Int, membership: Membership, work: [Int: ShardWork], accumulator: GradientAccumulator) {
        let now = ContinuousClock.now
        guard now - lastUpdate >= .milliseconds(250) else { return }
        publish(step: step, state: "waiting", membership: membership, work: work, accumulator: accumulator)
        guard hang.isLate(now - started) else { return }
        let usual = hang.typicalSeconds.map { String(format: " (usually %.3f s)", $0) } ?? ""
        log.warning(
            """
            step \(step) has waited \(String(format: "%.1f", (now - started).inSeconds)) s\(usual) for \
            \(HangWatch.describe(status.current, now: now))
            """)
    }

    /// The step is complete.
    func finish(step: Int, membership: Membership) {
        hang.finish(seconds: (ContinuousClock.now - started).inSeconds)
        let typical = hang.typicalSeconds
        let workers = Self.workers(membership)
        status.update {
            $0.state = "training"
            $0.step = step
            $0.stepStarted = nil
            $0.awaited = [:]
            $0.workers = workers
            $0.typicalStepSeconds = typical
        }
    }

    private func publish(
        step: Int, state: String, membership: Membership, work: [Int: ShardWork], accumulator: GradientAccumulator
    ) {
        lastUpdate = .now
        var awaited: [Int: [Int]] = [:]
        for shard in work.keys.sorted() where !accumulator.has(shard: shard) {
            guard let rank = membership.owner[shard] else { continue }
            awaited[rank, default: []].append(shard)
        }
        let workers = Self.workers(membership)
        let (since, typical) = (started, hang.typicalSeconds)
        status.update {
            $0.state = state
            $0.step = step
            $0.stepStarted = since
            $0.awaited = awaited
            $0.workers = workers
            $0.typicalStepSeconds = typical
        }
    }

    private static func workers(_ membership: Membership) -> [RunStatus.Worker] {
        (membership.workers + membership.joiners).map {
            RunStatus.Worker(
                rank: $0.rank, name: $0.label, shards: $0.shards.sorted(), lastHeard: $0.lastHeard,
                examplesPerSecond: $0.examplesPerSecond)
        }
    }
}
