/// Worker → reducer, the first message on each connection to a reducer's inbox: the token the
/// coordinator gave this worker in `Reducers`. A reducer takes pieces from a connection only once
/// it has joined with a token the coordinator lists for the step (`ReduceStep.tokens`).
public struct Join: Sendable, Equatable {
    /// The worker's `Reducers.token`.
    public var token: UInt64

    public init(token: UInt64) {
        self.token = token
    }
}
