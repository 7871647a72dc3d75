/// Which examples of each shard form each step's global batch.
///
/// An epoch is ⌈m / B⌉ steps; step j takes the global positions [jB, (j+1)B). Positions are dealt
/// to shards in proportion to their sizes — shard k's i-th example sits at (i + ½)/s_k of the way
/// through the epoch, and positions are ordered by that — so every step's batch is exactly B
/// examples (the last one of an epoch takes the rest) and every example is used once per epoch.
/// Within a shard, examples are taken in an order shuffled every epoch from the seed. With
/// B = 0 (full batch) every step is every example of every shard, in place and unshuffled.
public struct BatchSchedule: Sendable {
    public let plan: ShardPlan
    /// Global examples per step; equal to m for full batch.
    public let batchSize: Int
    public let isFullBatch: Bool
    public let stepsPerEpoch: Int
    public let seed: UInt64
    /// taken[j·K + k]: how many of shard k's examples steps 0..<j of an epoch take.
    private let taken: [Int32]

    public init(plan: ShardPlan, batch: Int, seed: UInt64) throws(ConfigurationError) {
        guard batch >= 0 else {
            throw .invalid(field: "--batch", reason: "must be 0 (full batch) or positive, got \(batch)")
        }
        let m = plan.exampleCount
        let k = plan.shardCount
        self.plan = plan
        self.seed = seed
        isFullBatch = batch == 0 || batch >= m
        batchSize = isFullBatch ? m : batch
        stepsPerEpoch = isFullBatch ? 1 : (m + batch - 1) / batch

        let sizes = plan.ranges.map(\.count)
        var positions: [(shard: Int32, index: Int32)] = []
        positions.reserveCapacity(m)
        for shard in 0..<k {
            for i in 0..<sizes[shard] { positions.append((Int32(shard), Int32(i))) }
        }
        // (2i+1)/(2·s_a) < (2j+1)/(2·s_b)  ⇔  (2i+1)·s_b < (2j+1)·s_a: exact in integers.
        positions.sort { x, y in
            let lhs = (2 * Int(x.index) + 1) * sizes[Int(y.shard)]
            let rhs = (2 * Int(y.index) + 1) * sizes[Int(x.shard)]
            return lhs != rhs ? lhs < rhs : x.shard < y.shard
        }
        var taken = [Int32](repeating: 0, count: (stepsPerEpoch + 1) * k)
        var running = [Int32](repeating: 0, count: k)
        for step in 0..<stepsPerEpoch {
            let end = min((step + 1) * batchSize, m)
            for position in step * batchSize..<end { running[Int(positions[position].shard)] += 1 }
            for shard in 0..<k { taken[(step + 1) * k + shard] = running[shard] }
        }
        self.taken = taken
    }

    /// The shard order of an epoch's examples, shuffled from the seed; one array per shard.
    public func permutations(epoch: Int) -> [[Int32]] {
        plan.ranges.enumerated().map { shard, range in
            var order = (0..<Int32(range.count)).map { $0 }
            var rng = Xoshiro256(seed: seed, stream: Initializer.Stream.shuffle.rawValue, UInt64(epoch), UInt64(shard))
            rng.shuffle(&order)
            return order
        }
    }

    /// Every shard's part of step `stepInEpoch` of an epoch whose orders are `permutations`.
    public func work(stepInEpoch j: Int, permutations: [[Int32]]) -> [ShardWork] {
        let k = plan.shardCount
        return (0..<k).map { shard in
            if isFullBatch { return ShardWork(shard: shard, selection: .range(0..<plan.ranges[shard].count)) }
            let lo = Int(taken[j * k + shard])
            let hi = Int(taken[(j + 1) * k + shard])
            return ShardWork(shard: shard, selection: .list(Array(permutations[shard][lo..<hi])))
        }
    }

    /// Examples in step j of an epoch: B, or what is left for the last step.
    public func examples(stepInEpoch j: Int) -> Int { min((j + 1) * batchSize, plan.exampleCount) - j * batchSize }
}
