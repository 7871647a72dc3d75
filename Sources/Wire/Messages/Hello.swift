import Core

/// Worker → coordinator, first message on a new connection: asks to join the run.
public struct Hello: Sendable, Equatable {
    /// The protocol version the worker speaks; the coordinator refuses any other.
    public var protocolVersion: UInt16
    /// Who the worker is, as `host:pid`, for logs and for telling workers apart.
    public var name: String
    /// What decides the worker's bits: the coordinator admits it only if it computes as the run does.
    public var profile: ArithmeticProfile
    /// Where this worker takes parameters from a parent in the broadcast tree (`worker --relay`),
    /// e.g. `tcp://10.0.0.2:5600`; empty when it takes them only from the coordinator.
    public var relayEndpoint: String
    /// Where this process, a reducer (`worker --reduce-at`), takes workers' pieces of partial
    /// gradients: the endpoint its inbox is bound at, wildcard port resolved; empty when the
    /// sender is not a reducer.
    public var reducerEndpoint: String
    /// The reducer inbox's CURVE public key (Z85, 40 characters) when it is a CURVE server; empty
    /// otherwise.
    public var reducerPublicKey: String

    public init(
        protocolVersion: UInt16 = WireProtocol.protocolVersion, name: String,
        profile: ArithmeticProfile = .current(threads: 1), relayEndpoint: String = "", reducerEndpoint: String = "",
        reducerPublicKey: String = ""
    ) {
        self.protocolVersion = protocolVersion
        self.name = name
        self.profile = profile
        self.relayEndpoint = relayEndpoint
        self.reducerEndpoint = reducerEndpoint
        self.reducerPublicKey = reducerPublicKey
    }
}
