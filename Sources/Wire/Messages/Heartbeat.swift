/// Either direction, every `Welcome.heartbeatMilliseconds`: "I am alive".
public struct Heartbeat: Sendable, Equatable {
    /// The last step the sender started (coordinator) or received (worker); 0 before the first.
    public var step: UInt64

    public init(step: UInt64) {
        self.step = step
    }
}
