/// Either direction: one piece of a reducer's range of the parameters or of an optimizer moment,
/// cut so that it fits one frame. Coordinator → reducer right after `ReducerAssign`: the range's
/// values, then its moments, each in order of `offset`; reducer → coordinator, when a
/// `StateRequest` asks: the range's moments (parts 1 and 2), for a checkpoint.
public struct RangeState: Sendable, Equatable {
    /// The step after which the values stand (the one `ReducerAssign` or `StateRequest` names).
    public var step: UInt64
    /// Optimizer updates applied to them so far.
    public var updates: UInt64
    /// Where this piece starts in the flat parameter vector (not in the range).
    public var offset: UInt32
    /// What the values are: `values` (0, W and b), `firstMoment` (1) or `secondMoment` (2).
    public var part: UInt8
    /// The piece: `values.count` values from `offset` on; never empty, at most `maxValues`.
    public var values: FloatArray

    /// W and b.
    public static let values: UInt8 = 0
    /// The optimizer's first moment (momentum's velocity, Adam's m).
    public static let firstMoment: UInt8 = 1
    /// Adam's second moment v.
    public static let secondMoment: UInt8 = 2
    /// The most values one piece carries: what fits one frame after the fields before them.
    public static let maxValues = WireProtocol.maxValuesPerPiece

    public init(step: UInt64, updates: UInt64, offset: UInt32, part: UInt8, values: FloatArray) {
        self.step = step
        self.updates = updates
        self.offset = offset
        self.part = part
        self.values = values
    }
}
