/// Adds the shards' partials of one step in shard order, 0…K−1, whatever order they arrive in.
///
/// A partial that arrives early waits in its shard's slot; as soon as every shard before it is in,
/// it is added. Same partials ⇒ same bits, however the work was spread (invariant 2).
public final class GradientAccumulator: @unchecked Sendable {
    public let layout: ParameterLayout
    public let shardCount: Int
    /// Σ dW, Σ db over the shards added so far.
    public let sum: ParameterBuffer
    public private(set) var examples = 0
    public private(set) var correct = 0
    public private(set) var lossSum = 0.0
    /// The next shard to add.
    public private(set) var nextShard = 0

    private var waiting: [ParameterBuffer?]
    /// Where `accumulate` computes a partial that is not the step's first.
    private var scratch: ParameterBuffer?
    private var waitingStats: [(examples: Int, correct: Int, lossSum: Double)?]

    public init(layout: ParameterLayout, shards: Int) {
        self.layout = layout
        shardCount = shards
        sum = ParameterBuffer(layout: layout)
        waiting = Array(repeating: nil, count: shards)
        waitingStats = Array(repeating: nil, count: shards)
    }

    public var isComplete: Bool { nextShard == shardCount }

    /// Starts a new step.
    public func reset() {
        examples = 0
        correct = 0
        lossSum = 0
        nextShard = 0
        for k in 0..<shardCount { waitingStats[k] = nil }
    }

    /// Whether shard k's partial for this step is already in (added or waiting).
    public func has(shard k: Int) -> Bool { k < nextShard || waitingStats[k] != nil }

    /// Takes shard k's partial. `gradients` must hold `layout.count` values.
    public func add(shard k: Int, gradients: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double) {
        precondition(k >= 0 && k < shardCount && !has(shard: k), "shard \(k) twice or out of range")
        if k == nextShard {
            fold(gradients, examples: n, correct: c, lossSum: loss)
            drain()
        } else {
            let slot = waiting[k] ?? ParameterBuffer(layout: layout)
            waiting[k] = slot
            slot.values.update(from: gradients, count: layout.count)
            waitingStats[k] = (n, c, loss)
        }
    }

    /// Shard k's partial, computed by `body` into the buffer it is handed: the running sum itself
    /// when k is the first shard of the step (no copy), a scratch buffer otherwise. `body`
    /// returns the partial's correct count and Σ loss.
    public func accumulate(shard k: Int, examples n: Int, computing body: (ParameterBuffer) -> OutputLayer.Evaluation) {
        precondition(k >= 0 && k < shardCount && !has(shard: k), "shard \(k) twice or out of range")
        if k == 0 {
            let evaluation = body(sum)
            examples = n
            correct = evaluation.correct
            lossSum = evaluation.lossSum
            nextShard = 1
            drain()
        } else {
            let buffer = scratch ?? ParameterBuffer(layout: layout)
            scratch = buffer
            let evaluation = body(buffer)
            add(shard: k, gradients: buffer.values, examples: n, correct: evaluation.correct, lossSum: evaluation.lossSum)
        }
    }

    private func drain() {
        while nextShard < shardCount, let stats = waitingStats[nextShard] {
            fold(waiting[nextShard]!.values, examples: stats.examples, correct: stats.correct, lossSum: stats.lossSum)
            waitingStats[nextShard - 1] = nil
        }
    }

    private func fold(_ g: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double) {
        let s = sum.values
        if nextShard == 0 {
            s.update(from: g, count: layout.count)
        } else {
            for i in 0..<layout.count { s[i] += g[i] }
        }
        examples += n
        correct += c
        lossSum += loss
        nextShard += 1
    }
}
