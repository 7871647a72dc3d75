/// Coordinator → reducer, every step: add this step's pieces of the range, update it and answer
/// with `Reduced`.
public struct ReduceStep: Sendable, Equatable {
    /// The step; every piece and `Reduced` of it carries it.
    public var step: UInt64
    /// The learning rate of this step, from the run's schedule.
    public var learningRate: Float
    /// The step's examples over all shards (m): the sum is divided by it.
    public var exampleCount: UInt32
    /// The tokens (`Reducers.token`) of the workers whose pieces the reducer may take this step.
    public var tokens: [UInt64]
    /// Each shard's examples in this step, by shard (K values): what a piece of a span must report.
    public var shardExamples: [UInt32]

    public init(
        step: UInt64, learningRate: Float, exampleCount: UInt32, tokens: [UInt64], shardExamples: [UInt32] = []
    ) {
        self.step = step
        self.learningRate = learningRate
        self.exampleCount = exampleCount
        self.tokens = tokens
        self.shardExamples = shardExamples
    }
}
