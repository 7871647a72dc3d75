import Core
import Wire

/// One step's W, b, and their PARAMS on the way to every worker.
struct StepParameters {
    let values: ParameterBuffer
    let outgoing: OutgoingParams

    init(step: Int, values: ParameterBuffer) {
        self.values = values
        let flat = UnsafeBufferPointer(start: UnsafePointer(values.values), count: values.count)
        outgoing = OutgoingParams(step: UInt64(step), values: flat)
    }
}
