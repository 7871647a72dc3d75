#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// The training loop: plan a step, gather its partials in shard order, update, report, repeat.
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
    private let source: GradientSource
    private let accumulator: GradientAccumulator
    private let testSet: Dataset?
    private let evaluator: Evaluator
    /// The running step's update, computed segment by segment as the segments' sums complete
    /// (`GradientAccumulator.onSegmentComplete`) and committed once the step is whole.
    private var pending: PendingUpdate?

    public var totalSteps: Int { options.steps ?? options.epochs * schedule.stepsPerEpoch }

    /// - Parameter initial: starting W, b (from `--init`); random from the seed when nil.
    public init(options: TrainingOptions, exampleCount m: Int, source: GradientSource, testSet: Dataset?, initial: ParameterBuffer?) throws {
        self.options = options
        let plan = try ShardPlan(exampleCount: m, shards: options.shards)
        schedule = try BatchSchedule(plan: plan, batch: options.batch, seed: options.seed)
        let layout = ParameterLayout(shape: options.shape)
        parameters = ParameterBuffer(layout: layout)
        nextParameters = ParameterBuffer(layout: layout)
        if let initial {
            parameters.copy(from: initial)
        } else {
            Initializer.initialize(parameters, seed: options.seed)
        }
        optimizer = Optimizer(settings: options.optimizer, layout: layout)
        accumulator = GradientAccumulator(layout: layout, shards: plan.shardCount)
        self.source = source
        self.testSet = testSet
        evaluator = Evaluator(shape: options.shape)
        accumulator.onSegmentComplete = { [unowned self] range in updateSegment(range) }
    }

    /// Continues from a checkpoint: W, b, the optimizer's state and the step.
    public func restore(from checkpoint: Checkpoint) throws {
        guard checkpoint.parameters.layout == parameters.layout else {
            throw ConfigurationError.invalid(field: "--resume", reason: "the checkpoint's network differs from this run's")
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
        let started = DispatchTime.now()
        var examples = 0
        var lastLoss = Double.nan
        var lastTest: Evaluator.Result?
        var permutations: [[Int32]] = []
        var permutationsEpoch = -1
        let perEpoch = schedule.stepsPerEpoch

        /// Plans the step after `step`, readies the accumulator and the update for it, and hands
        /// it to the source.
        func begin() throws -> PlannedStep {
            let started = DispatchTime.now()
            let epoch = step / perEpoch, j = step % perEpoch
            if !schedule.isFullBatch && epoch != permutationsEpoch {
                permutations = schedule.permutations(epoch: epoch)
                permutationsEpoch = epoch
            }
            let planned = PlannedStep(
                epoch: epoch, stepInEpoch: j, work: schedule.work(stepInEpoch: j, permutations: permutations),
                expected: schedule.examples(stepInEpoch: j),
                rate: options.schedule.rate(base: options.learningRate, step: step, epoch: epoch), started: started)
            accumulator.reset()
            pending = PendingUpdate(exampleCount: planned.expected, learningRate: planned.rate)
            try source.beginPartials(step: step + 1, parameters: parameters, work: planned.work, into: accumulator)
            return planned
        }

        var next: PlannedStep?
        while step < totalSteps {
            let current = try next ?? begin()
            next = nil
            let expected = current.expected
            let asked = DispatchTime.now()
            try source.computePartials(step: step + 1, parameters: parameters, work: current.work, into: accumulator)
            let computed = DispatchTime.now()

            guard accumulator.isComplete, accumulator.examples == expected, let update = pending else {
                throw TrainingError.incompleteStep(step: step + 1, expected: expected, got: accumulator.examples)
            }
            pending = nil
            let loss = accumulator.lossSum / Double(expected)
            guard loss.isFinite else { throw TrainingError.diverged(step: step + 1, loss: loss) }
            // A non-finite gradient makes a non-finite update, so its check also covers it.
            guard optimizer.commit(marks: update.marks) else {
                throw TrainingError.diverged(step: step + 1, loss: loss)
            }
            swap(&parameters, &nextParameters)
            step += 1
            let updated = DispatchTime.now()

            var timings = StepTimings()
            // The segments' updates ran inside the source's step, while partials were added.
            if let timed = source as? TimedGradientSource {
                timings = timed.lastTimings
                timings.reduce = max(0, timings.reduce - update.seconds)
            } else {
                timings.compute = seconds(asked, computed) - update.seconds
                timings.computeSlowest = timings.compute
            }
            timings.update = seconds(computed, updated) + update.seconds
            timings.total = seconds(current.started, updated)
            examples += expected
            lastLoss = loss
            let report = StepReport(
                step: step, epoch: current.epoch + 1, loss: loss,
                accuracy: Double(accumulator.correct) / Double(expected), examples: expected,
                workers: source.workerCount, learningRate: current.rate,
                examplesPerSecond: Double(expected) / max(timings.total, 1e-9), timings: timings)

            // The test set is evaluated while no step runs: its gemms take every core there is
            // (beside a worker's compute they ran slower, and the README's job with them). The
            // next step then starts before this one is reported, so its workers compute while
            // the metrics line is written.
            var evaluation: Evaluator.Result?
            if let testSet, current.stepInEpoch == perEpoch - 1 || step == totalSteps {
                evaluation = evaluator.evaluate(parameters, on: testSet)
            }
            if step < totalSteps { next = try begin() }
            try onStep(report)
            if let evaluation {
                lastTest = evaluation
                try onEvaluation(EvaluationReport(step: step, epoch: current.epoch + 1, result: evaluation))
            }
        }
        return TrainingSummary(
            steps: step, finalLoss: lastLoss, test: lastTest, examples: examples,
            wallSeconds: seconds(started, DispatchTime.now()), workers: source.workerCount)
    }
}

/// A step as planned when it is handed to the source.
private struct PlannedStep {
    let epoch: Int
    let stepInEpoch: Int
    let work: [ShardWork]
    let expected: Int
    let rate: Float
    let started: DispatchTime
}

/// A step's update while its segments arrive: what every part is computed with, and what the
/// parts have found so far.
private struct PendingUpdate {
    let exampleCount: Int
    let learningRate: Float
    /// The new values' finiteness marks, or-ed (`Finiteness`).
    var marks: UInt32 = 0
    /// Time spent computing the parts.
    var seconds = 0.0
}

extension Trainer {
    /// Computes the part of the running step's update that lies in `range`, a segment whose sum
    /// has just completed.
    private func updateSegment(_ range: Range<Int>) {
        guard var update = pending else { return }
        let started = DispatchTime.now()
        update.marks |= optimizer.update(
            parameters, gradientSum: accumulator.sum, range: range, exampleCount: update.exampleCount,
            learningRate: update.learningRate, into: nextParameters)
        update.seconds += seconds(started, DispatchTime.now())
        pending = update
    }
}

/// A source that measures its own phases (send, wait, reduce) for the metrics.
public protocol TimedGradientSource: GradientSource {
    var lastTimings: StepTimings { get }
}

@inline(__always)
func seconds(_ from: DispatchTime, _ to: DispatchTime) -> Double {
    Double(to.uptimeNanoseconds - from.uptimeNanoseconds) / 1e9
}
