/// What each step of a run is, by the run's `BatchSchedule` and learning-rate schedule: its epoch,
/// its place in the epoch, each shard's examples, the example count and the rate. The trainer and
/// every local process stepping among the others (`RangeStepper`) plan a step by this one code,
/// so that they agree on it; the shards' shuffles are drawn once an epoch.
struct StepPlans {
    let schedule: BatchSchedule
    let options: TrainingOptions
    private var permutations: [[Int32]] = []
    private var permutationsEpoch = -1

    /// One step, counted from 0.
    struct Plan {
        let epoch: Int
        let stepInEpoch: Int
        let work: [ShardWork]
        let examples: Int
        let rate: Float
    }

    init(schedule: BatchSchedule, options: TrainingOptions) {
        self.schedule = schedule
        self.options = options
    }

    /// Step `step`'s plan (the step after `step` committed ones).
    mutating func plan(_ step: Int) -> Plan {
        let (epoch, j) = step.quotientAndRemainder(dividingBy: schedule.stepsPerEpoch)
        if !schedule.isFullBatch && epoch != permutationsEpoch {
            permutations = schedule.permutations(epoch: epoch)
            permutationsEpoch = epoch
        }
        return Plan(
            epoch: epoch, stepInEpoch: j, work: schedule.work(stepInEpoch: j, permutations: permutations),
            examples: schedule.examples(stepInEpoch: j), rate: rate(step))
    }

    /// Step `step`'s learning rate.
    func rate(_ step: Int) -> Float {
        options.schedule.rate(base: options.learningRate, step: step, epoch: step / schedule.stepsPerEpoch)
    }
}
