/// Coordinator → worker, the answer to a `Hello` it will not accept as it stands.
public struct Refuse: Sendable, Equatable {
    /// Why, for the worker's log, e.g. `"protocol version 2, coordinator speaks 1"`.
    public var reason: String
    /// When not empty: the BLAS kernel the run computes with. The worker may switch to it and say
    /// hello again; otherwise (empty) it exits.
    public var kernel: String

    public init(reason: String, kernel: String = "") {
        self.reason = reason
        self.kernel = kernel
    }
}
