/// One step's PARAMS on its way to every worker: encoded on first need, then sent as the same
/// frames to each. A transport with another way to a worker (`SharedMemoryRouter`'s shared
/// parameters) reads `values` itself and never needs the frames.
public final class OutgoingParams {
    public let step: UInt64
    /// All weights and biases, flattened in the order Core defines; the caller keeps them alive and
    /// unchanged for as long as this object lives.
    let values: UnsafeBufferPointer<Float>
    private var encoded: [[UInt8]]?
    private var encodedParts: [[[UInt8]]]?
    /// Parameters a PARAMS_PART carries (64 KiB): small enough that a relay forwards the first
    /// piece while the rest is still on its way, large enough that a message's fixed cost is
    /// nothing beside its bytes.
    public static let partValues = 16384

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

    /// The step's parameters as PARAMS_PART messages for the broadcast tree, each one message's
    /// frames, in order; encoded the first time they are asked for.
    public var parts: [[[UInt8]]] {
        if let encodedParts { return encodedParts }
        let total = values.count
        let parts = stride(from: 0, to: max(total, 1), by: Self.partValues).map { offset in
            let piece = UnsafeBufferPointer(rebasing: values[offset..<min(offset + Self.partValues, total)])
            return MessageCodec.encode(
                .paramsPart(
                    ParamsPart(
                        step: step, offset: UInt32(offset), total: UInt32(total),
                        values: FloatArray(borrowing: piece))))
        }
        encodedParts = parts
        return parts
    }
}
