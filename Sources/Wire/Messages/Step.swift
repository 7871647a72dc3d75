import Core

/// Coordinator → worker: compute one training step on the shards this worker hosts, with the
/// parameters of the PARAMS message for the same step, which comes first.
public struct Step: Sendable, Equatable {
    /// The step number; every `Partial` answering this message carries it back.
    public var step: UInt64
    /// Which examples of each hosted shard make up this step's mini-batch.
    public var plan: [ShardWork]

    public init(step: UInt64, plan: [ShardWork]) {
        self.step = step
        self.plan = plan
    }
}
