/// Coordinator → worker: a run of consecutive examples of one shard.
///
/// A shard too large for one message is sent as several chunks; the worker assembles them by
/// `firstExample` and answers `ShardReady` once it holds all `shardExamples`.
public struct ShardChunk: Sendable, Equatable {
    /// Which shard, 0..<shardCount.
    public var shardID: UInt32
    /// How many shards the data is cut into (K).
    public var shardCount: UInt32
    /// Values per example.
    public var features: UInt32
    /// Examples in the whole shard, over all its chunks.
    public var shardExamples: UInt32
    /// Index within the shard of this chunk's first example.
    public var firstExample: UInt32
    /// One class label per example in this chunk.
    public var labels: [Int32]
    /// `features × labels.count` values, column-major: example after example.
    public var values: [Float]

    public init(
        shardID: UInt32,
        shardCount: UInt32,
        features: UInt32,
        shardExamples: UInt32,
        firstExample: UInt32,
        labels: [Int32],
        values: [Float]
    ) {
        self.shardID = shardID
        self.shardCount = shardCount
        self.features = features
        self.shardExamples = shardExamples
        self.firstExample = firstExample
        self.labels = labels
        self.values = values
    }
}
