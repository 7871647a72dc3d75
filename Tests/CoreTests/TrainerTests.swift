import Testing

@testable import Core

/// 103 examples, 3 classes; 16 per step gives epochs of 7 steps, the last of 7 examples.
private let data = ExampleBatch(features: 6, count: 103, classes: 3, seed: 55)
private let test = ExampleBatch(features: 6, count: 20, classes: 3, seed: 56)

private func makeTrainer(_ options: TrainingOptions, initial: ParameterBuffer? = nil, testSet: Dataset? = nil) throws
    -> Trainer
{
    let dataset = data.dataset
    let plan = try ShardPlan(exampleCount: dataset.count, shards: options.shards)
    let source = InProcessGradients(dataset: dataset, plan: plan, layout: ParameterLayout(shape: options.shape))
    return try Trainer(
        options: options, exampleCount: dataset.count, source: source, testSet: testSet, initial: initial)
}

private func baseOptions() throws -> TrainingOptions {
    var options = try TrainingOptions(shape: NetworkShape(layers: [6, 7, 3], activation: .relu))
    options.batch = 16
    options.shards = 3
    options.seed = 4
    return options
}

/// In-process gradients that record when each step is begun and computed, and with which
/// parameters.
private final class RecordingGradients: GradientSource {
    let inner: InProcessGradients
    var events: [String] = []
    var begunWith: [[Float]] = []

    init(_ inner: InProcessGradients) { self.inner = inner }

    var workerCount: Int { 1 }

    func beginPartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        events.append("begin \(step)")
        begunWith.append(p.array)
    }

    func computePartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        events.append("compute \(step)")
        try inner.computePartials(step: step, parameters: p, work: work, into: accumulator)
    }
}

@Suite struct TrainerTests {
    /// Each step is handed to the source before the step before it is reported — with the
    /// parameters that step's update made — and is then computed; after the last step nothing
    /// more is begun. The bits are those of a source that does everything in `computePartials`.
    @Test func theNextStepIsBegunBeforeThisOneIsReported() throws {
        var options = try baseOptions()
        options.steps = 4
        let dataset = data.dataset
        let plan = try ShardPlan(exampleCount: dataset.count, shards: options.shards)
        let layout = ParameterLayout(shape: options.shape)
        let recording = RecordingGradients(InProcessGradients(dataset: dataset, plan: plan, layout: layout))
        let trainer = try Trainer(
            options: options, exampleCount: dataset.count, source: recording, testSet: test.dataset, initial: nil)
        var reported: [[Float]] = []
        _ = try trainer.run(
            onStep: {
                recording.events.append("report \($0.step)")
                reported.append(trainer.parameters.array)
            },
            onEvaluation: { recording.events.append("evaluation \($0.step)") })
        #expect(
            recording.events == [
                "begin 1", "compute 1", "begin 2", "report 1", "compute 2", "begin 3", "report 2", "compute 3",
                "begin 4", "report 3",
                "compute 4", "report 4", "evaluation 4",
            ])
        #expect(
            recording.begunWith.dropFirst() == reported.dropLast()[...], "step k + 1 begun with the W, b step k reports"
        )
        #expect(
            TestNetworks.bits(trainer.parameters)
                == TestNetworks.bits(try makeTrainer(options).runAndReturnParameters()))
    }

    /// Steps count from 1, epochs from 1; each epoch's last step takes the remaining examples;
    /// the rate follows the schedule with epochs counted from 0.
    @Test func stepReportsFollowTheSchedule() throws {
        var options = try baseOptions()
        options.epochs = 2
        options.learningRate = 0.2
        options.schedule = .step(everyEpochs: 1, factor: 0.5)
        var reports: [StepReport] = []
        let summary = try makeTrainer(options).run(onStep: { reports.append($0) })

        #expect(summary.steps == 14 && summary.examples == 206)
        #expect(reports.map(\.step) == Array(1...14))
        #expect(reports.map(\.epoch) == Array(repeating: 1, count: 7) + Array(repeating: 2, count: 7))
        let perEpoch = Array(repeating: 16, count: 6) + [7]
        #expect(reports.map(\.examples) == perEpoch + perEpoch)
        #expect(reports.map(\.learningRate) == Array(repeating: 0.2, count: 7) + Array(repeating: 0.1, count: 7))
        #expect(reports.allSatisfy { $0.loss.isFinite && $0.accuracy >= 0 && $0.accuracy <= 1 })
        #expect(summary.lastBatchLoss == reports.last!.loss)
        // final_loss: the last epoch's mean, each step weighted by its examples.
        let lastEpoch = reports.suffix(7)
        let epochMean = lastEpoch.reduce(0.0) { $0 + $1.loss * Double($1.examples) } / 103
        #expect(summary.finalLoss == epochMean)
        #expect(summary.finalLoss != summary.lastBatchLoss)
    }

    /// A fixed step count stops mid-epoch; the test set is evaluated after each epoch and at the end.
    @Test func evaluatesAfterEachEpochAndAtTheEnd() throws {
        var options = try baseOptions()
        options.steps = 10
        var evaluated: [Int] = []
        let trainer = try makeTrainer(options, testSet: test.dataset)
        let summary = try trainer.run(onEvaluation: {
            evaluated.append($0.step)
            #expect($0.result.examples == 20)
        })
        #expect(trainer.totalSteps == 10 && summary.steps == 10)
        #expect(evaluated == [7, 10])
        let final = Evaluator(shape: options.shape).evaluate(trainer.parameters, on: test.dataset)
        #expect(summary.test == final)
    }

    /// Training lowers the loss on the data it sees: a smoke test that the update descends.
    @Test func fullBatchTrainingLowersTheLoss() throws {
        var options = try baseOptions()
        options.batch = 0
        options.steps = 30
        options.learningRate = 0.3
        var losses: [Double] = []
        _ = try makeTrainer(options).run(onStep: { losses.append($0.loss) })
        #expect(losses.count == 30)
        #expect(losses.last! < 0.9 * losses.first!, "losses \(losses.first!) → \(losses.last!)")
    }

    /// A non-finite loss stops the run before the update, leaving the parameters as they were.
    @Test func divergenceStopsBeforeTheUpdate() throws {
        var options = try baseOptions()
        options.steps = 3
        let initial = TestNetworks.randomParameters(options.shape, seed: 2)
        initial.bias(2)[0] = .infinity
        let trainer = try makeTrainer(options, initial: initial)
        let before = TestNetworks.bits(trainer.parameters)
        #expect(before == TestNetworks.bits(initial))
        let error = #expect(throws: TrainingError.self) { try trainer.run() }
        guard case .diverged(let step, _) = error else {
            Issue.record("expected .diverged, got \(String(describing: error))")
            return
        }
        #expect(step == 1)
        #expect(trainer.step == 0)
        #expect(TestNetworks.bits(trainer.parameters) == before)
    }

    /// The trainer updates each gradient segment as soon as its sum is complete: after several
    /// steps of a network cut into several segments, W, b and adam's moments are the bits of the
    /// plain loop — the step's whole sum, then one update in place.
    @Test func segmentBySegmentUpdatesAreTheBitsOfWholeUpdates() throws {
        let data = ExampleBatch(features: 784, count: 90, classes: 10, seed: 57)
        var options = try TrainingOptions(shape: NetworkShape(layers: [784, 200, 10], activation: .relu))
        options.batch = 32
        options.shards = 3
        options.steps = 5
        options.learningRate = 0.01
        options.optimizer = OptimizerSettings(kind: .adam)
        options.optimizer.weightDecay = 0.01
        let layout = ParameterLayout(shape: options.shape)
        #expect(layout.segments.count >= 2, "the network must be cut for the test to mean anything")
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let initial = TestNetworks.randomParameters(options.shape, seed: 8)
        let trainer = try Trainer(
            options: options, exampleCount: data.count,
            source: InProcessGradients(dataset: data.dataset, plan: plan, layout: layout),
            testSet: nil, initial: initial)
        _ = try trainer.run()

        let source = InProcessGradients(dataset: data.dataset, plan: plan, layout: layout)
        let accumulator = GradientAccumulator(layout: layout, shards: plan.shardCount)
        let optimizer = Optimizer(settings: options.optimizer, layout: layout)
        let p = ParameterBuffer(layout: layout)
        p.copy(from: initial)
        let schedule = trainer.schedule
        for step in 0..<5 {
            let epoch = step / schedule.stepsPerEpoch
            let j = step % schedule.stepsPerEpoch
            accumulator.reset()
            try source.computePartials(
                step: step + 1, parameters: p,
                work: schedule.work(stepInEpoch: j, permutations: schedule.permutations(epoch: epoch)),
                into: accumulator)
            optimizer.apply(
                to: p, gradientSum: accumulator.sum, exampleCount: schedule.examples(stepInEpoch: j),
                learningRate: options.schedule.rate(base: options.learningRate, step: step, epoch: epoch))
        }
        // Counted, not compared as arrays: a failing comparison of 159,010 values would be diffed.
        func differing(_ a: ParameterBuffer?, _ b: ParameterBuffer?) -> Int {
            guard let a, let b else { return a == nil && b == nil ? 0 : -1 }
            return zip(TestNetworks.bits(a), TestNetworks.bits(b)).filter { $0 != $1 }.count
        }
        #expect(differing(trainer.parameters, p) == 0, "W, b")
        #expect(differing(trainer.optimizer.firstMoment, optimizer.firstMoment) == 0, "first moment")
        #expect(differing(trainer.optimizer.secondMoment, optimizer.secondMoment) == 0, "second moment")
        #expect(trainer.optimizer.updates == 5)
    }
}

extension Trainer {
    /// Runs to the end and returns the final W, b.
    fileprivate func runAndReturnParameters() throws -> ParameterBuffer {
        _ = try run()
        return parameters
    }
}
