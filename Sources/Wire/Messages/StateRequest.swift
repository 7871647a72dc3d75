/// Coordinator → reducer, before a checkpoint: send the range's optimizer moments as they stand
/// after `step`, a committed step, as `RangeState` pieces (parts 1, then 2 for Adam; none for
/// sgd). The coordinator knows the range's length, so no message marks the end.
public struct StateRequest: Sendable, Equatable {
    /// The committed step whose moments are wanted.
    public var step: UInt64
    /// Which parts are wanted, a bit per `RangeState` part: 1 W, b; 2 the first moment; 4 the
    /// second. A reducer sends those its optimizer keeps.
    public var parts: UInt8
    /// W, b.
    public static let values: UInt8 = 1
    /// The moments (a checkpoint's).
    public static let moments: UInt8 = 6

    public init(step: UInt64, parts: UInt8 = StateRequest.moments) {
        self.step = step
        self.parts = parts
    }
}
