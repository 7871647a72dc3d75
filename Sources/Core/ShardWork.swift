/// Which examples of a shard take part in a step, as indices within the shard.
public enum ExampleSelection: Sendable, Equatable {
    /// A contiguous run, e.g. the whole shard in full-batch training: used in place, no copy.
    case range(Range<Int>)
    /// A shuffled mini-batch's part: gathered into a buffer before the forward pass.
    case list([Int32])

    public var count: Int {
        switch self {
        case .range(let r): return r.count
        case .list(let l): return l.count
        }
    }
}

/// One shard's share of a step.
public struct ShardWork: Sendable, Equatable {
    public let shard: Int
    public let selection: ExampleSelection

    public init(shard: Int, selection: ExampleSelection) {
        self.shard = shard
        self.selection = selection
    }
}
