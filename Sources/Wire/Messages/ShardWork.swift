/// One entry of a step's plan: the examples of one shard to compute a partial over.
public struct ShardWork: Sendable, Equatable {
    public var shardID: UInt32
    public var examples: ExampleSelection

    public init(shardID: UInt32, examples: ExampleSelection) {
        self.shardID = shardID
        self.examples = examples
    }
}
