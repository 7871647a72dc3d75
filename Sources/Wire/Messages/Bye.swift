/// Either direction: the sender is leaving (training finished, shutdown, fatal error).
public struct Bye: Sendable, Equatable {
    /// Why, for the receiver's log.
    public var reason: String

    public init(reason: String) {
        self.reason = reason
    }
}
