/// Coordinator → worker: compute one training step on the shards this worker hosts.
public struct Step: Sendable, Equatable {
    /// The step number; every `Partial` answering this message carries it back.
    public var step: UInt64
    /// All weights and biases, flattened in the order Core defines.
    public var parameters: [Float]
    /// Which examples of each hosted shard make up this step's mini-batch.
    public var plan: [ShardWork]

    public init(step: UInt64, parameters: [Float], plan: [ShardWork]) {
        self.step = step
        self.parameters = parameters
        self.plan = plan
    }
}
