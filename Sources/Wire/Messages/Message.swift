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
    case reducers(Reducers)
    case join(Join)
    case reducerAssign(ReducerAssign)
    case rangeState(RangeState)
    case stateRequest(StateRequest)
    case reduceStep(ReduceStep)
    case reduced(Reduced)
    case reducerNote(ReducerNote)
    case localSteps(LocalSteps)

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
        case .reducers: .reducers
        case .join: .join
        case .reducerAssign: .reducerAssign
        case .rangeState: .rangeState
        case .stateRequest: .stateRequest
        case .reduceStep: .reduceStep
        case .reduced: .reduced
        case .reducerNote: .reducerNote
        case .localSteps: .localSteps
        }
    }
}
