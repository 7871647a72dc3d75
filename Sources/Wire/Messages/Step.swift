import Core

/// Coordinator → worker: compute one training step on the shards this worker hosts, with the
/// parameters of the PARAMS message for the same step, which comes first.
public struct Step: Sendable, Equatable {
    /// The step number; every `Partial` answering this message carries it back.
    public var step: UInt64
    /// The run's shard count K when the worker should add the shards of the plan that fill a
    /// node of the reduction tree over K (`Core.ReductionTree.cover`) and send each such node as
    /// one partial; 0 when it sends each shard's partial on its own (a shard of the plan has
    /// some segments in already, or partials travel in 16 bits).
    public var treeShards: UInt32
    /// Which examples of each hosted shard make up this step's mini-batch.
    public var plan: [ShardWork]

    public init(step: UInt64, treeShards: UInt32 = 0, plan: [ShardWork]) {
        self.step = step
        self.treeShards = treeShards
        self.plan = plan
    }
}
