/// Coordinator → worker: the parameters a step is computed with, encoded once per step and sent
/// as the same frames to every worker, ahead of each worker's STEP.
public struct Params: Sendable, Equatable {
    /// The step these parameters are for; a STEP for this step uses them.
    public var step: UInt64
    /// All weights and biases, flattened in the order Core defines.
    public var values: FloatArray

    public init(step: UInt64, values: FloatArray) {
        self.step = step
        self.values = values
    }
}
