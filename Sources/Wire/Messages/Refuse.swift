/// Coordinator → worker, the answer to a `Hello` it will not accept; the worker exits.
public struct Refuse: Sendable, Equatable {
    /// Why, for the worker's log, e.g. `"protocol version 2, coordinator speaks 1"`.
    public var reason: String

    public init(reason: String) {
        self.reason = reason
    }
}
