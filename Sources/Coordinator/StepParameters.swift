import Core
import Wire

/// One step's W, b, and their PARAMS as a worker takes them: a reference to the shared
/// parameters if it reads those, else the frames themselves, encoded on first need and then
/// sent as they are to every worker.
struct StepParameters {
    let step: Int
    let values: ParameterBuffer
    /// The step's reference to its PARAMS on the parameters shared with local workers.
    let sharedReference: [[UInt8]]?
    private var encoded: [[UInt8]] = []

    init(step: Int, values: ParameterBuffer, sharedReference: [[UInt8]]?) {
        self.step = step
        self.values = values
        self.sharedReference = sharedReference
    }

    mutating func frames(sharedReader: Bool) -> [[UInt8]] {
        if sharedReader, let sharedReference { return sharedReference }
        if encoded.isEmpty {
            encoded = MessageCodec.encodeParams(
                step: UInt64(step), values: UnsafeBufferPointer(start: values.values, count: values.count))
        }
        return encoded
    }
}
