/// Processes that take steps among themselves (issue 24: local workers stepping in shared
/// memory, `RangeStepper`), beside the `GradientSource` that hands them one step at a time.
///
/// A span of steps is a transaction in two phases: the runner takes the steps and returns their
/// records, leaving the trainer's state alone; the trainer checks each record as it checks a step
/// (its example count, a finite loss) and only then has the runner hand over W, b and the
/// optimizer's state after the span (`finish`), and reports the span's steps. A span that fails —
/// a process lost, stalled or interrupted, a record or a value that does not hold — leaves
/// everything as it was at the span's start, and the trainer takes those steps again one at a
/// time through its source: the same bits, since every step's arithmetic is the same on either
/// path.
public protocol StepRunner: AnyObject {
    /// Takes the steps after `step` committed ones, up to `last`, from `parameters` and
    /// `optimizer`'s state, which it does not change. Returns each step's record, in order; none
    /// when it took no step (it cannot now, or the span failed), and the trainer then takes the
    /// step.
    func runSteps(after step: Int, through last: Int, parameters: ParameterBuffer, optimizer: Optimizer) throws
        -> [StepRecord]

    /// Ends the span whose records `runSteps` returned: when `accepted`, puts W, b and every
    /// moment after its last step into `parameters` and `optimizer` (`updates` counted) and
    /// returns true — or false, changing nothing, when it cannot (a value not finite); when not
    /// accepted, gives the span up. The runner is asked again only after the trainer has taken
    /// a failed span's steps itself.
    func finish(accepted: Bool, into parameters: ParameterBuffer, optimizer: Optimizer) -> Bool
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
