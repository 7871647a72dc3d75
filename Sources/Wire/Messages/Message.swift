/// Any one protocol message; `MessageCodec` turns it into frames and back.
public enum Message: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case refuse(Refuse)
    case shard(ShardChunk)
    case shardReady(ShardReady)
    case params(Params)
    case step(Step)
    /// The plan the next STEP is expected to carry: a hint (`NEXT_PLAN`), never an order.
    case nextPlan(Step)
    case partial(Partial)
    case heartbeat(Heartbeat)
    case bye(Bye)

    /// The kind written in the frame header.
    public var kind: MessageKind {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .refuse: .refuse
        case .shard: .shard
        case .shardReady: .shardReady
        case .params: .params
        case .step: .step
        case .nextPlan: .nextPlan
        case .partial: .partial
        case .heartbeat: .heartbeat
        case .bye: .bye
        }
    }
}
