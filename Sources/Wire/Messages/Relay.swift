/// Coordinator → worker, when the broadcast tree changes (`--broadcast tree`): where this worker
/// takes each step's PARAMS_PART messages from, and the workers it forwards them to as they
/// arrive. A worker only ever connects to the endpoints the coordinator names here.
public struct Relay: Sendable, Equatable {
    /// The network address (an IP, as the coordinator sees the parent's connection) whose
    /// PARAMS_PART messages this worker's relay inbox takes; empty when its parent is the
    /// coordinator, which sends them over the worker's own connection.
    public var parentAddress: String
    /// The relay endpoints (each child's `Hello.relayEndpoint`) to forward parameters to.
    public var children: [String]

    public init(parentAddress: String, children: [String]) {
        self.parentAddress = parentAddress
        self.children = children
    }
}
