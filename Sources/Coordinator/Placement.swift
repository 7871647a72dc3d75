/// Which worker hosts which shard: the pool's placement decisions, as plain functions over ranks
/// and shard counts. Every shard has one owner; shards move only between steps.
enum Placement {
    /// The worker (an index into the `workerCount` workers) of each of `shardCount` shards at the
    /// start: shard k goes to worker ⌊k·N/K⌋, contiguous blocks as even as the counts allow.
    static func initialBlocks(shardCount: Int, workerCount: Int) -> [Int] {
        (0..<shardCount).map { $0 * workerCount / shardCount }
    }

    /// Who adopts a lost worker's shard: the least loaded worker, the lowest rank on ties; nil
    /// when there is none. `loads` maps a rank to the shards it hosts.
    static func adopter(loads: [Int: Int]) -> Int? {
        loads.min { ($0.value, $0.key) < ($1.value, $1.key) }?.key
    }

    /// The shards a worker that joins takes, in order, and whom each comes from: while the worker
    /// hosting the most (if more than one; the highest rank on ties) hosts two more than the joiner,
    /// its highest shard moves over. The run grows without re-sharding. `holdings` maps each rank,
    /// the joiner's included, to its shards.
    static func donations(to joiner: Int, holdings: [Int: Set<Int>]) -> [(shard: Int, donor: Int)] {
        var holdings = holdings
        var moves: [(shard: Int, donor: Int)] = []
        while let donor = holdings.filter({ $0.value.count > 1 })
            .max(by: { ($0.value.count, $0.key) < ($1.value.count, $1.key) }),
            donor.value.count > holdings[joiner, default: []].count + 1,
            let shard = donor.value.max()
        {
            holdings[donor.key]?.remove(shard)
            holdings[joiner, default: []].insert(shard)
            moves.append((shard, donor.key))
        }
        return moves
    }
}
