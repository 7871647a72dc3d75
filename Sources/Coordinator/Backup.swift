/// When the coordinator computes a late shard itself, and which workers it stops waiting for
/// (`--backup-after`, 0.25 s by default).
///
/// A shard's partial has the same bits wherever it is computed, so a step that waits past its
/// due time — max(`after`, 4 usual steps) — takes every shard still missing from the coordinator
/// (`Arbiter`): the first valid partial counts, and a late original finds its shard already in
/// and is dropped (`PartialValidator`). A worker that had sent nothing in the late step becomes a
/// suspect: it is not asked again, and the coordinator computes its shards at once each step,
/// until the worker answers what it was last asked (a stalled process, a paused VM). A worker
/// silent past the timeout is lost as before; so is a suspect that has not answered for as long
/// (it may beat and never compute: a hung computation, a deadlock), whose shards then move.
struct Backup {
    /// The least a step waits before a backup; nil: never.
    let after: Duration?
    /// Suspects, by rank, and since when.
    private var since: [Int: ContinuousClock.Instant] = [:]
    /// Shards computed by the coordinator as backups since the run began.
    private(set) var shards = 0

    init(after: Duration?) {
        self.after = after
    }

    /// When a step begun at `started` is late, given the usual step time; nil when backups are off.
    func due(started: ContinuousClock.Instant, typicalSeconds: Double?) -> ContinuousClock.Instant? {
        guard let after else { return nil }
        return started + max(after, .seconds(4 * (typicalSeconds ?? 0)))
    }

    /// Whether the coordinator computes worker `rank`'s shards without asking it.
    func isSuspect(_ rank: Int) -> Bool { since[rank] != nil }

    /// Suspects that have not answered for longer than `timeout`, by rank.
    func unanswered(for timeout: Duration, now: ContinuousClock.Instant = .now) -> [Int] {
        since.filter { now - $0.value > timeout }.keys.sorted()
    }

    /// `count` shards were computed as backups; `silent`: the ranks whose partials had not begun.
    /// Returns the ranks that have just become suspects.
    mutating func computed(
        _ count: Int, silent: Set<Int>, now: ContinuousClock.Instant = .now
    ) -> Set<Int> {
        shards += count
        let new = silent.filter { since[$0] == nil }
        for rank in new { since[rank] = now }
        return new
    }

    /// Worker `rank` sent a partial, or is gone: it is no suspect any more. Returns whether it
    /// was one.
    @discardableResult
    mutating func answered(_ rank: Int) -> Bool {
        since.removeValue(forKey: rank) != nil
    }
}
