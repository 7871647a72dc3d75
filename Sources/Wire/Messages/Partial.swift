import Core

/// Worker → coordinator: one segment of the contribution to one step of one shard, or of a node
/// of the reduction tree whose shards the worker added itself (`Core.ReductionTree`), as sums
/// (not means), so the coordinator can add them by the tree and divide once by the step's example
/// count. The statistics travel with every segment.
public struct Partial: Sendable, Equatable {
    public var step: UInt64
    /// The first shard of the span.
    public var shardID: UInt32
    /// How many shards, from `shardID` on, the values sum: 1, or a node of the tree over the
    /// run's shards.
    public var shardSpan: UInt32
    /// Which segment of the gradient `gradients` holds (Core's `ParameterLayout.segments`, in the
    /// order backprop finishes them); a partial travels as one message per segment.
    public var segment: UInt32
    /// Examples of the span's shards used in this step.
    public var exampleCount: UInt32
    /// Of those, how many the parameters classified correctly.
    public var correctCount: UInt32
    /// Σ loss over the examples.
    public var lossSum: Double
    /// Seconds from the start of the shard's forward pass to this segment's send, for the metrics
    /// (the last segment's is the whole computation).
    public var computeSeconds: Double
    /// Σ dW and db over the examples, for the values of `Params.values` that the segment covers:
    /// Float32, or rounded to 16 bits when the run compresses partials.
    public var gradients: PartialGradients

    /// The shards whose partials the values sum.
    public var span: Range<Int> { Int(shardID)..<Int(shardID) + Int(shardSpan) }

    /// How `gradients` travel; a run's partials all use the encoding its WELCOME announced.
    public var encoding: GradientEncoding { gradients.encoding }

    public init(
        step: UInt64,
        shardID: UInt32,
        shardSpan: UInt32 = 1,
        segment: UInt32 = 0,
        exampleCount: UInt32,
        correctCount: UInt32,
        lossSum: Double,
        computeSeconds: Double = 0,
        gradients: PartialGradients
    ) {
        self.step = step
        self.shardID = shardID
        self.shardSpan = shardSpan
        self.segment = segment
        self.exampleCount = exampleCount
        self.correctCount = correctCount
        self.lossSum = lossSum
        self.computeSeconds = computeSeconds
        self.gradients = gradients
    }
}
