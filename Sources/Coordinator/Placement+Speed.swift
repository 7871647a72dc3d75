extension Placement {
    /// One shard moving from a worker to another, and the step's slowest share before and after.
    struct Move: Equatable {
        let shard: Int
        let from: Int
        let to: Int
        /// The longest time any worker needs for its shards, seconds, before and after the move.
        let slowestBefore: Double
        let slowestAfter: Double
    }

    /// The move that most shortens the step's slowest share, if it shortens it by more than
    /// `margin` (a fraction): each worker's share takes Σ `sizes` of its shards over its `speeds`
    /// (examples per second), and the step ends with the slowest. Shards move from the worker that
    /// finishes last, never its last shard (it keeps a measured speed, so it can win shards back
    /// when it recovers); the margin keeps noise in the speeds from moving shards back and forth.
    /// `holdings` maps each rank to its shards; a rank without a speed is left alone.
    static func rebalance(
        holdings: [Int: Set<Int>], sizes: [Int], speeds: [Int: Double], margin: Double = 0.1
    ) -> Move? {
        let ranks = holdings.keys.filter { (speeds[$0] ?? 0) > 0 }.sorted()
        guard ranks.count >= 2 else { return nil }
        func time(_ shards: Set<Int>, _ rank: Int) -> Double {
            Double(shards.reduce(0) { $0 + sizes[$1] }) / speeds[rank]!
        }
        var times = Dictionary(uniqueKeysWithValues: ranks.map { ($0, time(holdings[$0]!, $0)) })
        guard let slowest = ranks.max(by: { (times[$0]!, $1) < (times[$1]!, $0) }),
            let held = holdings[slowest], held.count > 1
        else { return nil }
        let before = times[slowest]!
        var best: Move?
        for shard in held.sorted() {
            for rank in ranks where rank != slowest {
                times[slowest] = time(held.subtracting([shard]), slowest)
                times[rank] = time(holdings[rank]!.union([shard]), rank)
                let after = times.values.max()!
                if after < (best?.slowestAfter ?? before * (1 - margin)) {
                    best = Move(shard: shard, from: slowest, to: rank, slowestBefore: before, slowestAfter: after)
                }
                times[slowest] = before
                times[rank] = time(holdings[rank]!, rank)
            }
        }
        return best
    }
}
