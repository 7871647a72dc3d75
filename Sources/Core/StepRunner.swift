/// Processes that take steps among themselves (issue 24: local workers stepping in shared
/// memory, `RangeStepper`), beside the `GradientSource` that hands them one step at a time.
///
/// A span of steps is a transaction: the runner leaves W, b and the optimizer's state after the
/// span's last step only when every step of it is done and finite, and the trainer reports the
/// span's steps only then. A span that fails — a process lost, stalled or interrupted, a value
/// not finite — leaves everything as it was at the span's start, and the trainer takes those
/// steps again one at a time through its source: the same bits, since every step's arithmetic is
/// the same on either path.
public protocol StepRunner: AnyObject {
    /// Takes the steps after `step` committed ones, up to `last`, from `parameters` and
    /// `optimizer`'s state, and on success leaves in them the state after the last step taken
    /// (every moment, `updates` counted). Returns each step's record, in order; none when it
    /// took no step (it cannot now, or the span failed), and the trainer then takes the step.
    func runSteps(after step: Int, through last: Int, parameters: ParameterBuffer, optimizer: Optimizer) throws
        -> [StepRecord]
}

/// One step a `StepRunner` took: the statistics the trainer would have summed (by the same tree),
/// its wall time, and where the time went: each process's compute, summed and the slowest, and
/// the sum and update of a range that followed.
public struct StepRecord: Sendable, Equatable {
    public var statistics: GradientAccumulator.Statistics
    public var seconds: Double
    public var compute: Double
    public var computeSlowest: Double
    public var update: Double

    public init(
        statistics: GradientAccumulator.Statistics, seconds: Double, compute: Double? = nil,
        computeSlowest: Double? = nil, update: Double = 0
    ) {
        self.statistics = statistics
        self.seconds = seconds
        self.compute = compute ?? seconds
        self.computeSlowest = computeSlowest ?? seconds
        self.update = update
    }
}
