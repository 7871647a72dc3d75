/// Adds the shards' partials of one step in shard order, 0…K−1, whatever order they arrive in.
///
/// A partial arrives segment by segment (`ParameterLayout.segments`, as workers send them while
/// backprop runs), or whole, which is all its segments at once. Each segment is added in shard
/// order on its own: a segment that arrives early waits in its shard's slot and is added as soon
/// as every shard before it has that segment in. Every value is still the sum of the same
/// partials in the same order, so the same partials give the same bits, however the work was
/// spread or cut (invariant 2).
public final class GradientAccumulator: @unchecked Sendable {
    public let layout: ParameterLayout
    public let shardCount: Int
    /// Where each segment lies in the flat buffer, in the order workers send them.
    public let segments: [Range<Int>]
    /// Σ dW, Σ db over the shards added so far.
    public let sum: ParameterBuffer
    /// Σ over the shards whose statistics are counted so far (in shard order).
    public private(set) var examples = 0
    public private(set) var correct = 0
    public private(set) var lossSum = 0.0

    /// Per segment, the next shard whose values it adds.
    private var nextShardOf: [Int]
    /// received[k][s]: shard k's segment s is in, added or waiting in `early[k]`.
    private var received: [[Bool]]
    /// Per shard, its segments that arrived ahead of their turn, at their place in a full buffer.
    private var early: [ParameterBuffer?]
    /// Per shard, its statistics, from the first of its segments to arrive.
    private var stats: [(examples: Int, correct: Int, lossSum: Double)?]
    private var shardsCounted = 0
    /// Where `accumulate` computes a partial that is not the step's first.
    private var scratch: ParameterBuffer?
    private var onSegmentComplete: (Range<Int>) -> Void = { _ in }

    public init(layout: ParameterLayout, shards: Int) {
        self.layout = layout
        shardCount = shards
        segments = layout.segments.map(\.range)
        sum = ParameterBuffer(layout: layout)
        nextShardOf = Array(repeating: 0, count: segments.count)
        received = Array(repeating: Array(repeating: false, count: segments.count), count: shards)
        early = Array(repeating: nil, count: shards)
        stats = Array(repeating: nil, count: shards)
    }

    public var isComplete: Bool { shardsCounted == shardCount && nextShardOf.allSatisfy { $0 == shardCount } }

    /// Shards added whole so far: every shard before this one has all its segments in the sum.
    public var nextShard: Int { nextShardOf.min() ?? shardCount }

    /// Starts a new step. `onSegmentComplete` hears each segment's range as soon as its sum is
    /// complete (every shard's values in, in shard order), while the rest may still be arriving.
    public func reset(onSegmentComplete: @escaping (Range<Int>) -> Void = { _ in }) {
        examples = 0
        correct = 0
        lossSum = 0
        shardsCounted = 0
        for s in nextShardOf.indices { nextShardOf[s] = 0 }
        for k in 0..<shardCount {
            for s in received[k].indices { received[k][s] = false }
            stats[k] = nil
        }
        self.onSegmentComplete = onSegmentComplete
    }

    /// Whether shard k's whole partial for this step is already in (added or waiting).
    public func has(shard k: Int) -> Bool { !received[k].contains(false) }

    /// Whether shard k's segment s is already in.
    public func has(shard k: Int, segment s: Int) -> Bool { received[k][s] }

    /// Takes segment s of shard k's partial: `values` holds that segment's values. The shard's
    /// statistics come with each segment; the first to arrive counts.
    public func add(
        shard k: Int, segment s: Int, values: UnsafePointer<Float>,
        examples n: Int, correct c: Int, lossSum loss: Double
    ) {
        precondition(
            k >= 0 && k < shardCount && s >= 0 && s < segments.count && !received[k][s],
            "shard \(k) segment \(s) twice or out of range")
        received[k][s] = true
        if stats[k] == nil { stats[k] = (n, c, loss) }
        if nextShardOf[s] == k {
            fold(segment: s, values)
            addWaiting(segment: s)
        } else {
            let slot = early[k] ?? ParameterBuffer(layout: layout)
            early[k] = slot
            (slot.values + segments[s].lowerBound).update(from: values, count: segments[s].count)
        }
        countStats()
    }

    /// Takes shard k's partial, `layout.count` values: each of its segments not in yet — all of
    /// them, unless some came from a worker before the coordinator computed the shard itself.
    public func add(
        shard k: Int, gradients: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double
    ) {
        for (s, range) in segments.enumerated() where !received[k][s] {
            add(shard: k, segment: s, values: gradients + range.lowerBound, examples: n, correct: c, lossSum: loss)
        }
    }

    /// Shard k's partial, computed by `body` into the buffer it is handed, which returns the
    /// partial's correct count and Σ loss. The step's first shard is computed into the sum itself:
    /// that saves copying the whole gradient once per step.
    public func accumulate(shard k: Int, examples n: Int, computing body: (ParameterBuffer) -> OutputLayer.Evaluation) {
        precondition(k >= 0 && k < shardCount && !received[k].contains(true), "shard \(k) twice or out of range")
        guard k == 0 else {
            let buffer = scratch ?? ParameterBuffer(layout: layout)
            scratch = buffer
            let evaluation = body(buffer)
            add(
                shard: k, gradients: buffer.values, examples: n, correct: evaluation.correct,
                lossSum: evaluation.lossSum)
            return
        }
        let evaluation = body(sum)
        stats[0] = (n, evaluation.correct, evaluation.lossSum)
        for s in segments.indices {
            received[0][s] = true
            advance(segment: s)
            addWaiting(segment: s)
        }
        countStats()
    }

    /// Adds segment s of every shard whose turn has come and whose values wait, in shard order.
    private func addWaiting(segment s: Int) {
        while nextShardOf[s] < shardCount, received[nextShardOf[s]][s] {
            fold(segment: s, early[nextShardOf[s]]!.values + segments[s].lowerBound)
        }
    }

    /// Adds the next shard's segment s, `g`, to the sum.
    private func fold(segment s: Int, _ g: UnsafePointer<Float>) {
        let range = segments[s]
        let target = sum.values + range.lowerBound
        if nextShardOf[s] == 0 {
            target.update(from: g, count: range.count)
        } else {
            for i in 0..<range.count { target[i] += g[i] }
        }
        advance(segment: s)
    }

    /// Segment s of the next shard is in the sum.
    private func advance(segment s: Int) {
        nextShardOf[s] += 1
        if nextShardOf[s] == shardCount { onSegmentComplete(segments[s]) }
    }

    /// Counts the shards' statistics in shard order, as far as they have arrived.
    private func countStats() {
        while shardsCounted < shardCount, let counted = stats[shardsCounted] {
            examples += counted.examples
            correct += counted.correct
            lossSum += counted.lossSum
            shardsCounted += 1
        }
    }
}
