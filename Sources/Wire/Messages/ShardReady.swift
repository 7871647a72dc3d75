/// Worker → coordinator: the worker holds every example of a shard and can compute on it.
public struct ShardReady: Sendable, Equatable {
    public var shardID: UInt32
    /// Examples the worker holds for the shard; the coordinator checks it against its own count.
    public var examples: UInt32

    public init(shardID: UInt32, examples: UInt32) {
        self.shardID = shardID
        self.examples = examples
    }
}
