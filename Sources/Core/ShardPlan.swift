/// The data cut once into K contiguous shards whose sizes differ by at most one example.
///
/// A shard is the unit of work and of reduction: every step yields one partial per shard, and
/// partials are added by a fixed tree over shard indices (`ReductionTree`), so results do not depend on which process computes what.
public struct ShardPlan: Sendable, Equatable {
    public let exampleCount: Int
    /// Shard k holds examples `ranges[k]` of the dataset.
    public let ranges: [Range<Int>]

    public var shardCount: Int { ranges.count }

    public init(exampleCount m: Int, shards k: Int) throws(ConfigurationError) {
        guard k >= 1 else { throw .invalid(field: "--shards", reason: "must be at least 1, got \(k)") }
        guard m >= k else {
            throw .invalid(field: "--shards", reason: "\(k) shards need at least \(k) examples, the data has \(m)")
        }
        exampleCount = m
        let base = m / k
        let extra = m % k
        var ranges: [Range<Int>] = []
        var start = 0
        for shard in 0..<k {
            let size = base + (shard < extra ? 1 : 0)
            ranges.append(start..<start + size)
            start += size
        }
        self.ranges = ranges
    }
}

extension ShardPlan {
    /// The fewest examples a shard should compute in a step: below this, a shard's gemms and its
    /// partial's message cost more than the balance it buys.
    public static let autoMinimumExamples = 32
    /// Shards per worker that `--shards auto` aims at: a move then shifts a quarter of a worker's
    /// share, so placement by speed can balance within about an eighth.
    public static let autoShardsPerWorker = 4

    /// The shard count `--shards auto` picks for `workers` workers computing `examplesPerStep`
    /// examples a step: 4 per worker, but no shard under 32 examples a step, and never fewer
    /// shards than workers or more than examples.
    public static func automaticCount(examplesPerStep: Int, exampleCount: Int, workers: Int) -> Int {
        let target = autoShardsPerWorker * workers
        let affordable = examplesPerStep / autoMinimumExamples
        return max(1, min(exampleCount, max(workers, min(target, affordable))))
    }
}
