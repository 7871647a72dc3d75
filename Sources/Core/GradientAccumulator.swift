/// Adds the shards' partials of one step in shard order, 0…K−1, whatever order they arrive in.
///
/// A partial may arrive whole or segment by segment (`ParameterLayout.segments`, as workers send
/// them while backprop runs). Each segment is added in shard order on its own: a segment that
/// arrives early waits in its shard's slot and is added as soon as every shard before it has
/// that segment in. Every value is still the sum of the same partials in the same order, so the
/// same partials give the same bits, however the work was spread or cut (invariant 2).
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

    /// Per segment, the next shard to add.
    private var nextShardOf: [Int]
    /// received[k][s]: shard k's segment s is in (added or waiting).
    private var received: [[Bool]]
    private var receivedCount: [Int]
    /// Shards' segments that arrived ahead of their turn, written at their place in a full buffer…
    private var waiting: [ParameterBuffer?]
    /// …or, when their owner keeps them (`add(…, keptBy:)`), left where they are: held[k][s].
    private var held: [[HeldSegment?]]
    private var stats: [(examples: Int, correct: Int, lossSum: Double)?]
    private var shardsCounted = 0
    private var segmentsComplete = 0
    /// Where `accumulate` computes a partial that is not the step's first.
    private var scratch: ParameterBuffer?
    /// Called with a segment's range as soon as its sum is complete (every shard's values in,
    /// in shard order): the trainer computes that part of the update while the rest of the step
    /// is still arriving.
    public var onSegmentComplete: ((Range<Int>) -> Void)?

    public init(layout: ParameterLayout, shards: Int) {
        self.layout = layout
        shardCount = shards
        segments = layout.segments.map(\.range)
        sum = ParameterBuffer(layout: layout)
        nextShardOf = Array(repeating: 0, count: segments.count)
        received = Array(repeating: Array(repeating: false, count: segments.count), count: shards)
        receivedCount = Array(repeating: 0, count: shards)
        waiting = Array(repeating: nil, count: shards)
        held = Array(repeating: Array(repeating: nil, count: segments.count), count: shards)
        stats = Array(repeating: nil, count: shards)
    }

    public var isComplete: Bool { segmentsComplete == segments.count && shardsCounted == shardCount }

    /// Shards added whole so far: every shard before this one has all its segments in the sum.
    public var nextShard: Int { nextShardOf.min() ?? shardCount }

    /// Starts a new step.
    public func reset() {
        examples = 0
        correct = 0
        lossSum = 0
        shardsCounted = 0
        segmentsComplete = 0
        for s in nextShardOf.indices { nextShardOf[s] = 0 }
        for k in 0..<shardCount {
            for s in received[k].indices { received[k][s] = false }
            receivedCount[k] = 0
            stats[k] = nil
            for s in held[k].indices { held[k][s] = nil }
        }
    }

    /// Whether shard k's whole partial for this step is already in (added or waiting).
    public func has(shard k: Int) -> Bool { receivedCount[k] == segments.count }

    /// Whether shard k's segment s is already in.
    public func has(shard k: Int, segment s: Int) -> Bool { received[k][s] }

    /// Takes shard k's whole partial. `gradients` must hold `layout.count` values.
    public func add(shard k: Int, gradients: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double) {
        precondition(k >= 0 && k < shardCount && receivedCount[k] == 0, "shard \(k) twice or out of range")
        for (s, range) in segments.enumerated() {
            add(shard: k, segment: s, values: gradients + range.lowerBound, examples: n, correct: c, lossSum: loss)
        }
    }

    /// Takes the segments of shard k's partial that are not in yet (a partial the coordinator
    /// computed itself, after some of a worker's segments arrived).
    public func addMissing(shard k: Int, gradients: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double) {
        for (s, range) in segments.enumerated() where !received[k][s] {
            add(shard: k, segment: s, values: gradients + range.lowerBound, examples: n, correct: c, lossSum: loss)
        }
    }

    /// Takes segment s of shard k's partial: `values` holds that segment's values. The shard's
    /// statistics come with each segment; the first to arrive counts.
    ///
    /// `owner`, when given, keeps the values alive and unchanged until `reset`: the segment then
    /// waits where it lies instead of being copied — ahead of its turn, or as shard 0's, which is
    /// added together with shard 1's in one pass (sum = g0 + g1, the bits of g0 then + g1).
    public func add(
        shard k: Int, segment s: Int, values: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double,
        keptBy owner: AnyObject? = nil
    ) {
        precondition(k >= 0 && k < shardCount && s >= 0 && s < segments.count && !received[k][s], "shard \(k) segment \(s) twice or out of range")
        received[k][s] = true
        receivedCount[k] += 1
        if stats[k] == nil { stats[k] = (n, c, loss) }
        if let owner {
            held[k][s] = HeldSegment(values: values, owner: owner)
            drain(segment: s)
        } else if nextShardOf[s] == k {
            fold(segment: s, values)
            drain(segment: s)
        } else {
            let slot = waiting[k] ?? ParameterBuffer(layout: layout)
            waiting[k] = slot
            let range = segments[s]
            (slot.values + range.lowerBound).update(from: values, count: range.count)
            // Shard 1's segment may be what a kept shard 0's waits for.
            drain(segment: s)
        }
        countStats()
    }

    /// Shard k's partial, computed by `body` into the buffer it is handed: the running sum itself
    /// when k is the step's first shard and nothing of it is in yet (no copy), a scratch buffer
    /// otherwise. `body` returns the partial's correct count and Σ loss.
    public func accumulate(shard k: Int, examples n: Int, computing body: (ParameterBuffer) -> OutputLayer.Evaluation) {
        precondition(k >= 0 && k < shardCount && receivedCount[k] == 0, "shard \(k) twice or out of range")
        guard k == 0 else {
            let buffer = scratch ?? ParameterBuffer(layout: layout)
            scratch = buffer
            let evaluation = body(buffer)
            add(shard: k, gradients: buffer.values, examples: n, correct: evaluation.correct, lossSum: evaluation.lossSum)
            return
        }
        let evaluation = body(sum)
        stats[0] = (n, evaluation.correct, evaluation.lossSum)
        receivedCount[0] = segments.count
        for s in segments.indices {
            received[0][s] = true
            advance(segment: s)
            drain(segment: s)
        }
        countStats()
    }

    /// Adds segment s of every shard whose turn has come, in shard order.
    private func drain(segment s: Int) {
        while nextShardOf[s] < shardCount, let g = values(shard: nextShardOf[s], segment: s) {
            let k = nextShardOf[s]
            if k == 0, shardCount > 1, held[0][s] != nil {
                // Shard 0's values wait where they lie until shard 1's are in: one pass then
                // writes the sum of both, where copying the first and adding the second take two.
                guard let g1 = values(shard: 1, segment: s) else { return }
                let range = segments[s]
                let target = sum.values + range.lowerBound
                for i in 0..<range.count { target[i] = g[i] + g1[i] }
                advance(segment: s)
                advance(segment: s)
                held[0][s] = nil
                held[1][s] = nil
                continue
            }
            fold(segment: s, g)
            held[k][s] = nil
        }
    }

    /// Where shard k's segment s lies, once it is in and not yet added: kept by its owner, or
    /// copied into the shard's waiting slot.
    private func values(shard k: Int, segment s: Int) -> UnsafePointer<Float>? {
        guard received[k][s] else { return nil }
        if let kept = held[k][s] { return kept.values }
        return UnsafePointer(waiting[k]!.values + segments[s].lowerBound)
    }

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
        if nextShardOf[s] == shardCount {
            segmentsComplete += 1
            onSegmentComplete?(segments[s])
        }
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

/// A segment that waits for its turn where its owner keeps it.
private struct HeldSegment {
    let values: UnsafePointer<Float>
    let owner: AnyObject
}
