/// Reducer → coordinator, during a step: what the reducer knows of one span of shards in its
/// range, so the coordinator can tell a finished span from one it must ask again or arbitrate.
public struct ReducerNote: Sendable, Equatable {
    /// The step the note is about.
    public var step: UInt64
    /// The first shard of the span.
    public var shardID: UInt32
    /// How many shards, from `shardID` on, as in `Partial.shardSpan`: at least 1.
    public var shardSpan: UInt32
    /// `complete` (0) or `poisoned` (1); other values do not decode.
    public var verdict: UInt8
    /// Why, for the coordinator's log (what was wrong with a poisoned piece); may be empty.
    public var reason: String
    /// The token of the worker that sent a poisoned piece (0 for the coordinator, or a complete span).
    public var token: UInt64

    /// Every piece of the span for this reducer's range is in.
    public static let complete: UInt8 = 0
    /// A piece of the span for this reducer's range was poisoned (failed a check, or was not finite).
    public static let poisoned: UInt8 = 1

    public init(
        step: UInt64, shardID: UInt32, shardSpan: UInt32, verdict: UInt8, reason: String = "", token: UInt64 = 0
    ) {
        self.step = step
        self.shardID = shardID
        self.shardSpan = shardSpan
        self.verdict = verdict
        self.reason = reason
        self.token = token
    }
}
