/// Which examples of a shard a step uses, as indices within the shard.
public enum ExampleSelection: Sendable, Equatable {
    /// A contiguous run, sent as two numbers whatever its length.
    case range(start: UInt32, count: UInt32)
    /// A shuffled mini-batch, in the order the examples are to be used.
    case list([UInt32])

    /// How many examples are selected.
    public var count: Int {
        switch self {
        case .range(_, let count): Int(count)
        case .list(let indices): indices.count
        }
    }
}
