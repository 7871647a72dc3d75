import Core
import Foundation

/// What `/status` shows beside `/metrics`: the step in progress, the workers with their shards,
/// speeds and when each was last heard, and whom the step waits for. The pool writes it (at a
/// step's start and end, and a few times a second while it waits); the endpoint's thread reads it.
final class RunStatus: @unchecked Sendable {
    /// One worker, as the pool last saw it.
    struct Worker: Equatable {
        var rank: Int
        var name: String
        var shards: [Int]
        var lastHeard: ContinuousClock.Instant
        /// Examples per second of compute, from its recent partials; nil before the first.
        var examplesPerSecond: Double?
    }

    /// The pool's view at one moment.
    struct Snapshot: Equatable {
        var state = "starting"
        var step = 0
        var stepStarted: ContinuousClock.Instant?
        /// What a step usually takes, seconds; nil before the first has finished.
        var typicalStepSeconds: Double?
        var workers: [Worker] = []
        /// Shards whose partials the step in progress still waits for, by the rank asked.
        var awaited: [Int: [Int]] = [:]
    }

    private let lock = NSLock()
    private var snapshot = Snapshot()

    func update(_ change: (inout Snapshot) -> Void) {
        lock.withLock { change(&snapshot) }
    }

    var current: Snapshot { lock.withLock { snapshot } }

    /// The JSON `/status` serves, ages measured at `now`.
    func json(now: ContinuousClock.Instant = .now) -> [UInt8] {
        let object = Self.render(current, now: now)
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data) + [10]
    }

    static func render(_ s: Snapshot, now: ContinuousClock.Instant) -> [String: Any] {
        func age(_ instant: ContinuousClock.Instant) -> Double { (now - instant).inSeconds }
        let workers: [[String: Any]] = s.workers.map { w in
            var entry: [String: Any] = [
                "rank": w.rank, "name": w.name, "shards": w.shards, "last_heard_s": age(w.lastHeard),
                "awaited_shards": s.awaited[w.rank] ?? [],
            ]
            if let speed = w.examplesPerSecond { entry["examples_per_s"] = speed }
            return entry
        }
        var object: [String: Any] = ["state": s.state, "step": s.step, "workers": workers]
        if let started = s.stepStarted { object["step_running_s"] = age(started) }
        if let typical = s.typicalStepSeconds { object["typical_step_s"] = typical }
        object["waiting_for"] = s.awaited.keys.sorted().compactMap { rank -> [String: Any]? in
            guard let worker = s.workers.first(where: { $0.rank == rank }) else { return nil }
            return [
                "rank": rank, "name": worker.name, "shards": s.awaited[rank] ?? [],
                "last_heard_s": age(worker.lastHeard),
            ]
        }
        return object
    }
}
