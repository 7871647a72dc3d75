/// Coordinator → worker, or relay → worker: one contiguous piece of a step's parameters, for
/// the broadcast tree. The pieces of a step arrive in order, from offset 0 to `total`; a worker
/// that has them all holds the step's parameters as if one PARAMS had brought them, and forwards
/// each piece to its children as it comes, so the parameters flow down the tree in a pipeline.
public struct ParamsPart: Sendable, Equatable {
    /// The step these parameters are for.
    public var step: UInt64
    /// Where this piece starts in the flat parameter vector.
    public var offset: UInt32
    /// How many parameters the whole vector has.
    public var total: UInt32
    /// The piece: `values.count` parameters from `offset` on.
    public var values: FloatArray

    public init(step: UInt64, offset: UInt32, total: UInt32, values: FloatArray) {
        self.step = step
        self.offset = offset
        self.total = total
        self.values = values
    }
}
