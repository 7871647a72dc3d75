import Dispatch

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The training loop: plan a step, gather its partials by the reduction tree, update, report, repeat.
///
/// It owns all state that must survive (invariant 4): W, b, the optimizer, the step, and — since
/// shuffles are derived from (seed, epoch, shard) — the shuffle state.
public final class Trainer {
    public let options: TrainingOptions
    public let schedule: BatchSchedule
    /// W, b. Each update is computed into `nextParameters`, and the two change places once it is
    /// known finite: read it afresh after every step.
    public private(set) var parameters: ParameterBuffer
    private var nextParameters: ParameterBuffer
    public let optimizer: Optimizer
    public private(set) var step = 0
    /// The run so far, for a summary on any exit.
    public private(set) var tally = RunTally()
    private let source: GradientSource
    private let accumulator: GradientAccumulator
    private let testSet: Dataset?
    private let evaluator: Evaluator
    /// Each step's plan: its shards' examples, its example count and rate.
    private var plans: StepPlans

    public var totalSteps: Int { options.steps ?? options.epochs * schedule.stepsPerEpoch }

    /// Processes that take spans of steps among themselves (`StepRunner`); nil: every step
    /// through the source.
    public var runner: StepRunner?
    /// Steps after which a span must end, besides each epoch's last and the run's (where the
    /// caller needs W, b and the optimizer's state: a checkpoint's steps).
    public var spanEnds: (Int) -> Bool = { _ in false }
    /// The most steps in one span: a span's steps are reported when it ends.
    public var maxSpan = 256
    /// The step from which the runner is asked again, after it took no step of a span: the
    /// source takes the span's steps meanwhile.
    private var runnerResumesAt = 0

    /// - Parameter initial: starting W, b (from `--init`); random from the seed when nil.
    public init(
        options: TrainingOptions, exampleCount m: Int, source: GradientSource, testSet: Dataset?,
        initial: ParameterBuffer?
    ) throws {
        self.options = options
        let plan = try ShardPlan(exampleCount: m, shards: options.shards)
        schedule = try BatchSchedule(plan: plan, batch: options.batch, seed: options.seed)
        plans = StepPlans(schedule: schedule, options: options)
        let layout = ParameterLayout(shape: options.shape)
        parameters = ParameterBuffer(layout: layout)
        nextParameters = ParameterBuffer(layout: layout)
        if let initial {
            parameters.copy(from: initial)
        } else {
            Initializer.initialize(parameters, seed: options.seed)
        }
        optimizer = Optimizer(settings: options.optimizer, layout: layout)
        if let (ranges, local) = source.reduction {
            accumulator = GradientAccumulator(
                layout: layout, shards: plan.shardCount, segments: ranges.pieces.map(\.range),
                expecting: ranges.pieces.indices.filter { local.contains(ranges.pieces[$0].owner) })
        } else {
            accumulator = GradientAccumulator(layout: layout, shards: plan.shardCount)
        }
        self.source = source
        self.testSet = testSet
        evaluator = Evaluator(shape: options.shape)
    }

    /// Continues from a checkpoint: W, b, the optimizer's state and the step.
    public func restore(from checkpoint: Checkpoint) throws {
        guard checkpoint.parameters.layout == parameters.layout else {
            throw ConfigurationError.invalid(
                field: "--resume", reason: "the checkpoint's network differs from this run's")
        }
        parameters.copy(from: checkpoint.parameters)
        if let m = checkpoint.firstMoment, let buffer = optimizer.firstMoment { buffer.copy(from: m) }
        if let v = checkpoint.secondMoment, let buffer = optimizer.secondMoment { buffer.copy(from: v) }
        optimizer.updates = checkpoint.updates
        step = checkpoint.step
    }

    /// Runs to the last step, calling `onStep` after every update and `onEvaluation` after every
    /// epoch and at the end (when a test set is known).
    public func run(
        onStep: (StepReport) throws -> Void = { _ in },
        onEvaluation: (EvaluationReport) throws -> Void = { _ in }
    ) throws -> TrainingSummary {
        tally.start()
        var next: PlannedStep?
        while step < totalSteps {
            if next == nil, let runner, step >= runnerResumesAt,
                try runSpan(runner, onStep: onStep, onEvaluation: onEvaluation)
            {
                continue
            }
            // Plan and begin: done already when the step before was reported.
            let planned = try next ?? begin()
            next = nil
            // Gather the partials; `planned.update` computes each segment's part of the update
            // as soon as the accumulator has that segment's sum.
            let asked = DispatchTime.now()
            try source.computePartials(step: step + 1, parameters: parameters, work: planned.work, into: accumulator)
            let computed = DispatchTime.now()
            // Update: W, b take the new values once every part is known finite.
            let loss = try commit(planned)
            let report = stepReport(planned, loss: loss, timings: timings(planned, asked: asked, computed: computed))
            tally.record(report)
            // Report. The test set is evaluated while no step runs (its gemms take every core);
            // the next step then begins before this one is reported, so its workers compute while
            // the report is written.
            let evaluation = try evaluationIfDue(stepInEpoch: planned.stepInEpoch)
            let evaluatedAt = evaluation == nil ? 0 : tally.wallSeconds
            if let evaluation { tally.record(evaluation) }
            // Begun ahead only when no span is to start there.
            if step < totalSteps, runner == nil || step < runnerResumesAt { next = try begin() }
            try onStep(report)
            if let evaluation {
                try onEvaluation(
                    EvaluationReport(step: step, epoch: planned.epoch + 1, result: evaluation, wallSeconds: evaluatedAt)
                )
            }
        }
        // W, b whole for the model written next.
        try source.gatherParameters(into: parameters, step: step)
        return tally.summary(workers: source.workerCount)
    }

    /// Plans the step after `step`, readies the accumulator and the step's update, and hands the
    /// step to the source.
    private func begin() throws -> PlannedStep {
        let started = DispatchTime.now()
        let plan = plans.plan(step)
        let (expected, rate) = (plan.examples, plan.rate)
        let update = StepUpdate(
            optimizer: optimizer, from: parameters, gradientSum: accumulator.sum, exampleCount: expected,
            learningRate: rate, into: nextParameters)
        // The update of each segment runs as soon as its sum is complete, while later partials
        // still arrive: most of the update is done when the last one is in.
        accumulator.reset(onSegmentComplete: update.apply, onReduced: update.take)
        let planned = PlannedStep(
            epoch: plan.epoch, stepInEpoch: plan.stepInEpoch, work: plan.work, expected: expected, rate: rate,
            update: update, started: started)
        try source.prepareUpdate(step: step + 1, learningRate: rate, exampleCount: expected, optimizer: optimizer)
        try source.beginPartials(step: step + 1, parameters: parameters, work: planned.work, into: accumulator)
        return planned
    }

    /// Checks the gathered step and commits its update: W, b become the new values. Returns the
    /// step's mean loss.
    private func commit(_ planned: PlannedStep) throws -> Double {
        guard accumulator.isComplete, accumulator.examples == planned.expected else {
            throw TrainingError.incompleteStep(step: step + 1, expected: planned.expected, got: accumulator.examples)
        }
        let loss = accumulator.lossSum / Double(planned.expected)
        guard loss.isFinite else { throw TrainingError.diverged(step: step + 1, loss: loss) }
        // A non-finite gradient makes a non-finite update, so its check also covers it.
        guard optimizer.commit(marks: planned.update.marks) else {
            throw TrainingError.diverged(step: step + 1, loss: loss)
        }
        swap(&parameters, &nextParameters)
        step += 1
        return loss
    }

    /// Where the step's time went; the segments' updates ran inside the source's step, while
    /// partials were added.
    private func timings(_ planned: PlannedStep, asked: DispatchTime, computed: DispatchTime) -> StepTimings {
        let updated = DispatchTime.now()
        let updating = planned.update.elapsed
        var timings = StepTimings()
        if let timed = source as? TimedGradientSource {
            timings = timed.lastTimings
            timings.reduce = max(0, timings.reduce - updating)
        } else {
            timings.compute = seconds(asked, computed) - updating
            timings.computeSlowest = timings.compute
        }
        timings.update = seconds(computed, updated) + updating
        timings.total = seconds(planned.started, updated)
        return timings
    }

    private func stepReport(_ planned: PlannedStep, loss: Double, timings: StepTimings) -> StepReport {
        StepReport(
            step: step, epoch: planned.epoch + 1, loss: loss,
            accuracy: Double(accumulator.correct) / Double(planned.expected), examples: planned.expected,
            workers: source.workerCount, learningRate: planned.rate,
            examplesPerSecond: Double(planned.expected) / max(timings.total, 1e-9), timings: timings)
    }

    /// The test set's evaluation after the step `stepInEpoch` of its epoch, at the end of each
    /// epoch and of the run.
    private func evaluationIfDue(stepInEpoch: Int) throws -> Evaluator.Result? {
        guard let testSet, stepInEpoch == schedule.stepsPerEpoch - 1 || step == totalSteps else { return nil }
        try source.gatherParameters(into: parameters, step: step)
        return evaluator.evaluate(parameters, on: testSet)
    }
}

extension Trainer {
    /// Lets `runner` take the steps up to the next evaluation, `spanEnds` step, `maxSpan` steps or
    /// the end, and reports those it took, each as the trainer would have (loss, accuracy and
    /// examples from the same sums), W, b being the span's last. False when it took none (the
    /// span failed, or its records do not hold).
    func runSpan(
        _ runner: StepRunner, onStep: (StepReport) throws -> Void, onEvaluation: (EvaluationReport) throws -> Void
    ) throws -> Bool {
        let perEpoch = schedule.stepsPerEpoch
        var last = min(totalSteps, (step / perEpoch + 1) * perEpoch, step + maxSpan)
        if let end = (step + 1..<last).first(where: spanEnds) { last = end }
        let first = step
        let records = try runner.runSteps(after: first, through: last, parameters: parameters, optimizer: optimizer)
        // Each record checked as `commit` checks a step, before anything of the span is taken.
        let holds =
            first + records.count <= last
            && records.enumerated().allSatisfy { offset, record in
                record.statistics.examples == schedule.examples(stepInEpoch: (first + offset) % perEpoch)
                    && record.statistics.lossSum.isFinite
            }
        guard !records.isEmpty, runner.finish(accepted: holds, into: parameters, optimizer: optimizer) else {
            runnerResumesAt = last
            return false
        }
        // W, b are the span's last: a report that throws (an interruption) is answered once all
        // are out, so that the trainer's step is then W, b's, as a checkpoint needs.
        var failure: Error?
        for (offset, record) in records.enumerated() {
            let (epoch, j) = (first + offset).quotientAndRemainder(dividingBy: perEpoch)
            let expected = schedule.examples(stepInEpoch: j)
            let stats = record.statistics
            step = first + offset + 1
            var timings = StepTimings()
            timings.total = record.seconds
            timings.compute = record.compute
            timings.computeSlowest = record.computeSlowest
            timings.update = record.update
            let report = StepReport(
                step: step, epoch: epoch + 1, loss: stats.lossSum / Double(expected),
                accuracy: Double(stats.correct) / Double(expected), examples: expected,
                workers: source.workerCount,
                learningRate: plans.rate(step - 1),
                examplesPerSecond: Double(expected) / max(record.seconds, 1e-9), timings: timings)
            tally.record(report)
            do { try onStep(report) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        let epoch = (step - 1) / perEpoch
        if let evaluation = try evaluationIfDue(stepInEpoch: (step - 1) % perEpoch) {
            tally.record(evaluation)
            try onEvaluation(
                EvaluationReport(step: step, epoch: epoch + 1, result: evaluation, wallSeconds: tally.wallSeconds))
        }
        return true
    }
}

/// A step as planned when it is handed to the source.
private struct PlannedStep {
    let epoch: Int
    let stepInEpoch: Int
    let work: [ShardWork]
    let expected: Int
    let rate: Float
    let update: StepUpdate
    let started: DispatchTime
}

/// A source that measures its own phases (send, wait, reduce) for the metrics.
public protocol TimedGradientSource: GradientSource {
    var lastTimings: StepTimings { get }
}

@inline(__always)
func seconds(_ from: DispatchTime, _ to: DispatchTime) -> Double {
    Double(to.uptimeNanoseconds - from.uptimeNanoseconds) / 1e9
}
