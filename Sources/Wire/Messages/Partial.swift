/// Worker → coordinator: one shard's contribution to one step, as sums (not means), so the
/// coordinator can add partials in shard order and divide once by the step's example count.
public struct Partial: Sendable, Equatable {
    public var step: UInt64
    public var shardID: UInt32
    /// Examples of the shard used in this step.
    public var exampleCount: UInt32
    /// Of those, how many the parameters classified correctly.
    public var correctCount: UInt32
    /// Σ loss over the examples.
    public var lossSum: Double
    /// Seconds the worker spent computing this partial (forward and backward), for the metrics.
    public var computeSeconds: Double
    /// Σ dW and db over the examples, flattened in the same order as `Params.values`: Float32,
    /// or rounded to 16 bits when the run compresses partials.
    public var gradients: PartialGradients

    /// How `gradients` travel; a run's partials all use the encoding its WELCOME announced.
    public var encoding: GradientEncoding { gradients.encoding }

    public init(
        step: UInt64,
        shardID: UInt32,
        exampleCount: UInt32,
        correctCount: UInt32,
        lossSum: Double,
        computeSeconds: Double = 0,
        gradients: PartialGradients
    ) {
        self.step = step
        self.shardID = shardID
        self.exampleCount = exampleCount
        self.correctCount = correctCount
        self.lossSum = lossSum
        self.computeSeconds = computeSeconds
        self.gradients = gradients
    }
}
