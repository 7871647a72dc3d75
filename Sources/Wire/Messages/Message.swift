/// Any one protocol message; `MessageCodec` turns it into frames and back.
public enum Message: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case refuse(Refuse)
    case shard(ShardChunk)
    case shardReady(ShardReady)
    case params(Params)
    case step(Step)
    case partial(Partial)
    case heartbeat(Heartbeat)
    case bye(Bye)
    case relay(Relay)
    case paramsPart(ParamsPart)

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
        case .partial: .partial
        case .heartbeat: .heartbeat
        case .bye: .bye
        case .relay: .relay
        case .paramsPart: .paramsPart
        }
    }
}
