/// One step's PARAMS on its way to every worker: encoded on first need, then sent as the same
/// frames to each. A transport with another way to a worker (`SharedMemoryRouter`'s shared
/// parameters) reads `values` itself and never needs the frames.
public final class OutgoingParams {
    public let step: UInt64
    /// All weights and biases, flattened in the order Core defines; the caller keeps them alive and
    /// unchanged for as long as this object lives.
    let values: UnsafeBufferPointer<Float>
    private var encoded: [[UInt8]]?

    public init(step: UInt64, values: UnsafeBufferPointer<Float>) {
        self.step = step
        self.values = values
    }

    /// The message's frames, encoded the first time they are asked for.
    public var frames: [[UInt8]] {
        if let encoded { return encoded }
        let frames = MessageCodec.encodeParams(step: step, values: values)
        encoded = frames
        return frames
    }
}
