import Core
import Foundation

/// Notices a step that waits longer than usual, so that a stuck run says whom it waits for.
///
/// "Usual" is a running average of finished steps; a step is late past max(5 × usual, 2 s), and
/// is reported then and again each time its wait doubles, so a long hang is a few lines, not a flood.
struct HangWatch {
    private(set) var typicalSeconds: Double?
    private var nextReport: Duration?

    /// A step has begun.
    mutating func begin() {
        nextReport = .seconds(max(2, 5 * (typicalSeconds ?? 0)))
    }

    /// A step has finished after `seconds`.
    mutating func finish(seconds: Double) {
        typicalSeconds = typicalSeconds.map { 0.9 * $0 + 0.1 * seconds } ?? seconds
        nextReport = nil
    }

    /// Whether a step that has run `elapsed` should be reported now.
    mutating func isLate(_ elapsed: Duration) -> Bool {
        guard let due = nextReport, elapsed >= due else { return false }
        nextReport = elapsed * 2
        return true
    }

    /// "worker 1 (local-1) for shard(s) [2, 3], last heard 3.1 s ago; …", from a status snapshot.
    static func describe(_ snapshot: RunStatus.Snapshot, now: ContinuousClock.Instant) -> String {
        // Every shard in here: what is left is the reducers' values (`--reducers`).
        guard !snapshot.awaited.isEmpty else { return "the reducers' new values (every partial is in here)" }
        return snapshot.awaited.keys.sorted().map { rank in
            let worker = snapshot.workers.first { $0.rank == rank }
            let heard = worker.map { String(format: "%.1f", ($0.lastHeard.duration(to: now)).inSeconds) } ?? "?"
            return "worker \(rank) (\(worker?.name ?? "gone")) for shard(s) \(snapshot.awaited[rank] ?? []), "
                + "last heard \(heard) s ago"
        }.joined(separator: "; ")
    }
}
