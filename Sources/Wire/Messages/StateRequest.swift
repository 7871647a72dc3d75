/// Coordinator → reducer, before a checkpoint: send the range's optimizer moments as they stand
/// after `step`, a committed step, as `RangeState` pieces (parts 1, then 2 for Adam; none for
/// sgd). The coordinator knows the range's length, so no message marks the end.
public struct StateRequest: Sendable, Equatable {
    /// The committed step whose moments are wanted.
    public var step: UInt64

    public init(step: UInt64) {
        self.step = step
    }
}
