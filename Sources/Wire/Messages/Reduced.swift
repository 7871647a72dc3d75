/// Reducer → coordinator, once a step's pieces of its range are added and the range updated: the
/// range's new W, b. A range that does not fit one frame travels as several, in increasing
/// `offset`; each repeats `marks` and `bytesReceived`, and the coordinator or-s the marks.
public struct Reduced: Sendable, Equatable {
    /// The step answered (`ReduceStep.step`).
    public var step: UInt64
    /// Core's `Finiteness` marks of the range's update, or-ed: the coordinator commits the step
    /// only if every range's are finite.
    public var marks: UInt32
    /// Bytes of gradient pieces the reducer took this step, for the metrics.
    public var bytesReceived: UInt64
    /// Where `values` start in the flat parameter vector.
    public var offset: UInt32
    /// The new values from `offset` on; never empty, at most `maxValues`.
    public var values: FloatArray

    /// The most values one message carries: what fits one frame after the fields before them.
    public static let maxValues = WireProtocol.maxValuesPerPiece

    public init(step: UInt64, marks: UInt32, bytesReceived: UInt64, offset: UInt32, values: FloatArray) {
        self.step = step
        self.marks = marks
        self.bytesReceived = bytesReceived
        self.offset = offset
        self.values = values
    }
}
