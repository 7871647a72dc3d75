import Foundation
import Testing

@testable import Core

/// 211 examples of 6 features in 3 classes: prime, so no shard count or batch divides it.
private let data = ExampleBatch(features: 6, count: 211, classes: 3, seed: 31)
private let test = ExampleBatch(features: 6, count: 40, classes: 3, seed: 32)

/// The trainer with a `StepRunner` — threads stepping among themselves by `RangeStepper`, as local
/// workers do — against the trainer alone: the same reports, evaluations and bits, with spans cut
/// at epochs, at `spanEnds` and at `maxSpan`, and a failed span taken again through the source.
@Suite("Trainer with a step runner")
struct StepRunnerTests {
    @Test("Spans give the trainer's reports, evaluations and bits", arguments: [OptimizerKind.sgd, .momentum, .adam])
    func spansGiveTheTrainersRun(kind: OptimizerKind) throws {
        let options = try Self.options(kind)
        let (plain, plainReports, plainEvaluations) = try Self.run(options, runner: nil)
        let runner = try ThreadedSteps(options: options, parties: 2)
        let (spanned, reports, evaluations) = try Self.run(options, runner: runner, spanEnds: { $0 == 9 }, maxSpan: 7)
        #expect(runner.spans.count > 3, "\(runner.spans)")
        #expect(runner.spans.contains { $0.upperBound == 9 }, "a span ends where spanEnds says")
        #expect(runner.spans.allSatisfy { $0.count <= 7 }, "\(runner.spans)")
        #expect(Self.bits(spanned) == Self.bits(plain))
        #expect(reports == plainReports)
        #expect(evaluations == plainEvaluations)
    }

    @Test("A failed span leaves the trainer as it was, and its steps are taken through the source")
    func aFailedSpanIsTakenAgain() throws {
        let options = try Self.options(.adam)
        let (plain, plainReports, _) = try Self.run(options, runner: nil)
        let runner = try ThreadedSteps(options: options, parties: 2, failingAt: 12)
        let (spanned, reports, _) = try Self.run(options, runner: runner, maxSpan: 5)
        #expect(runner.failed == 1)
        #expect(Self.bits(spanned) == Self.bits(plain))
        #expect(reports == plainReports, "each step reported once, in order")
    }

    @Test("A span whose records do not hold is given up before anything is taken, and taken again")
    func aSpanWithABadRecordIsGivenUp() throws {
        let options = try Self.options(.momentum)
        let (plain, plainReports, _) = try Self.run(options, runner: nil)
        let runner = try ThreadedSteps(options: options, parties: 2, miscountingAt: 9)
        let (spanned, reports, _) = try Self.run(options, runner: runner, maxSpan: 5)
        #expect(runner.refused == 1)
        #expect(Self.bits(spanned) == Self.bits(plain))
        #expect(reports == plainReports)
    }

    @Test("A report that throws in the middle of a span leaves the trainer at the span's end, every step reported")
    func aThrowingReportLeavesTheTrainerConsistent() throws {
        struct Interrupted: Error {}
        let options = try Self.options(.adam)
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let source = InProcessGradients(
            dataset: data.dataset, plan: plan, layout: ParameterLayout(shape: options.shape))
        let trainer = try Trainer(
            options: options, exampleCount: data.count, source: source, testSet: nil, initial: nil)
        trainer.runner = try ThreadedSteps(options: options, parties: 2)
        trainer.maxSpan = 5
        var reported: [Int] = []
        #expect(throws: Interrupted.self) {
            try trainer.run(onStep: { report in
                reported.append(report.step)
                if report.step == 3 { throw Interrupted() }
            })
        }
        // The first span is steps 1…5: all reported, and the trainer holds step 5's W, b and moments.
        #expect(reported == [1, 2, 3, 4, 5])
        #expect(trainer.step == 5)
        var five = options
        five.steps = 5
        #expect(Self.bits(trainer) == Self.bits(try Self.run(five, runner: nil).0))
    }

    static func options(_ kind: OptimizerKind) throws -> TrainingOptions {
        var options = try TrainingOptions(shape: NetworkShape(layers: [6, 8, 5, 3], activation: .tanh))
        options.batch = 32
        options.optimizer = OptimizerSettings(kind: kind)
        options.optimizer.weightDecay = 0.001
        options.learningRate = kind == .adam ? 0.01 : 0.1
        options.epochs = 3
        options.schedule = .cosine(totalSteps: 21)
        options.shards = 4
        return options
    }

    /// A whole run: the trainer, what `onStep` heard (step, loss, accuracy, examples, rate) and
    /// the evaluations.
    static func run(
        _ options: TrainingOptions, runner: StepRunner?, spanEnds: @escaping (Int) -> Bool = { _ in false },
        maxSpan: Int = 256
    ) throws -> (Trainer, [[Double]], [EvaluationSummary]) {
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let source = InProcessGradients(
            dataset: data.dataset, plan: plan, layout: ParameterLayout(shape: options.shape))
        let trainer = try Trainer(
            options: options, exampleCount: data.count, source: source, testSet: test.dataset, initial: nil)
        trainer.runner = runner
        trainer.spanEnds = spanEnds
        trainer.maxSpan = maxSpan
        var reports: [[Double]] = []
        var evaluations: [EvaluationSummary] = []
        _ = try trainer.run(
            onStep: {
                reports.append([Double($0.step), $0.loss, $0.accuracy, Double($0.examples), Double($0.learningRate)])
                #expect(trainer.step == $0.step)
            },
            onEvaluation: {
                evaluations.append(EvaluationSummary(step: $0.step, epoch: $0.epoch, result: $0.result))
            })
        return (trainer, reports, evaluations)
    }

    static func bits(_ trainer: Trainer) -> [UInt32] {
        trainer.parameters.array.map(\.bitPattern) + (trainer.optimizer.firstMoment?.array.map(\.bitPattern) ?? [])
            + (trainer.optimizer.secondMoment?.array.map(\.bitPattern) ?? []) + [UInt32(trainer.optimizer.updates)]
    }
}

/// What an evaluation said, without its clock.
struct EvaluationSummary: Equatable {
    let step: Int
    let epoch: Int
    let result: Evaluator.Result
}

/// A `StepRunner` of threads, each a process's `RangeStepper` over memory they share; with
/// `failingAt`, process 1 fails at that step once, as a lost worker would.
final class ThreadedSteps: StepRunner, @unchecked Sendable {
    let parties: Int
    private let layout: ParameterLayout
    private let steppers: [RangeStepper]
    private let memory: SharedValues
    private var failingAt: Int?
    /// Each span asked for, and how many failed.
    private(set) var spans: [Range<Int>] = []
    private(set) var failed = 0
    /// The span whose records went out, until it is finished.
    private var pending: Range<Int>?
    /// A step whose record says one example too many, once; spans the trainer refused.
    private var miscountingAt: Int?
    private(set) var refused = 0

    init(options: TrainingOptions, parties: Int, failingAt: Int? = nil, miscountingAt: Int? = nil) throws {
        self.parties = parties
        self.failingAt = failingAt
        self.miscountingAt = miscountingAt
        layout = ParameterLayout(shape: options.shape)
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let memory = SharedValues(count: layout.count, shards: plan.shardCount, parties: parties)
        self.memory = memory
        steppers = try (0..<parties).map { rank in
            let mine = stride(from: rank, to: plan.shardCount, by: parties).map {
                ShardData(id: $0, dataset: data.dataset, range: plan.ranges[$0])
            }
            return try RangeStepper(
                options: options, plan: plan, shards: mine, rank: rank, parties: parties, memory: memory.memory)
        }
    }

    func runSteps(after step: Int, through last: Int, parameters: ParameterBuffer, optimizer: Optimizer) throws
        -> [StepRecord]
    {
        spans.append(step..<last)
        memory.slots[step % 2].update(from: parameters.values, count: layout.count)
        let barrier = ThreadsBarrier(parties: parties)
        let records = Records()
        let group = DispatchGroup()
        let fail = failingAt.flatMap { (step..<last).contains($0) ? $0 : nil }
        for (rank, stepper) in steppers.enumerated() {
            group.enter()
            Thread {
                defer { group.leave() }
                stepper.begin(
                    updates: optimizer.updates, first: optimizer.firstMoment?.values,
                    second: optimizer.secondMoment?.values)
                do {
                    for t in step..<last {
                        if rank == 1, t == fail { throw ThreadsBarrier.Abandoned() }
                        let started = Date()
                        try stepper.step(t, barrier: barrier.wait)
                        if rank == 0 { records.append(stepper.statistics, Date().timeIntervalSince(started)) }
                    }
                    records.finished(rank)
                } catch {
                    barrier.abandon()
                }
            }.start()
        }
        group.wait()
        guard records.finishedCount == parties else {
            failingAt = nil
            failed += 1
            return []
        }
        pending = step..<last
        var all = records.all
        if let bad = miscountingAt, (step..<last).contains(bad) {
            miscountingAt = nil
            all[bad - step].statistics.examples += 1
        }
        return all
    }

    func finish(accepted: Bool, into parameters: ParameterBuffer, optimizer: Optimizer) -> Bool {
        guard let span = pending else { return false }
        pending = nil
        guard accepted else {
            refused += 1
            return false
        }
        for stepper in steppers {
            stepper.end(first: optimizer.firstMoment?.values, second: optimizer.secondMoment?.values)
        }
        optimizer.updates += span.count
        parameters.values.update(from: memory.slots[span.upperBound % 2], count: layout.count)
        return true
    }
}

/// The memory the threads share: partials, two slots of W, b, marks, statistics.
final class SharedValues: @unchecked Sendable {
    let partials: [UnsafeMutablePointer<Float>]
    let slots: [UnsafeMutablePointer<Float>]
    let marks: [UnsafeMutablePointer<UInt32>]
    let statistics: UnsafeMutablePointer<Double>
    let shards: Int

    init(count: Int, shards: Int, parties: Int) {
        self.shards = shards
        partials = (0..<shards).map { _ in .allocate(capacity: count) }
        slots = (0..<2).map { _ in .allocate(capacity: count) }
        marks = (0..<parties).map { _ in .allocate(capacity: 1) }
        statistics = .allocate(capacity: 2 * shards * 3)
        for pointer in partials + slots { pointer.initialize(repeating: .nan, count: count) }
    }

    deinit {
        for pointer in partials + slots { pointer.deallocate() }
        for pointer in marks { pointer.deallocate() }
        statistics.deallocate()
    }

    var memory: RangeStepper.Memory {
        RangeStepper.Memory(
            partials: partials, parameters: slots, marks: marks,
            statistics: { [self] in statistics + (($0 % 2) * shards + $1) * 3 })
    }
}

/// A barrier of threads that any of them can abandon: the others then throw.
final class ThreadsBarrier: @unchecked Sendable {
    struct Abandoned: Error {}
    private let parties: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var abandoned = false

    init(parties: Int) { self.parties = parties }

    func wait() throws {
        condition.lock()
        defer { condition.unlock() }
        let mine = generation
        arrived += 1
        if arrived == parties {
            arrived = 0
            generation += 1
            condition.broadcast()
            return
        }
        let deadline = Date(timeIntervalSinceNow: 60)
        while generation == mine {
            guard !abandoned, condition.wait(until: deadline) || generation != mine else { throw Abandoned() }
        }
    }

    func abandon() {
        condition.lock()
        defer { condition.unlock() }
        abandoned = true
        condition.broadcast()
    }
}

/// Process 0's records and who finished, under a lock.
private final class Records: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [StepRecord] = []
    private var done: Set<Int> = []

    func append(_ statistics: GradientAccumulator.Statistics, _ seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        records.append(StepRecord(statistics: statistics, seconds: seconds))
    }

    func finished(_ rank: Int) {
        lock.lock()
        defer { lock.unlock() }
        done.insert(rank)
    }

    var finishedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return done.count
    }

    var all: [StepRecord] {
        lock.lock()
        defer { lock.unlock() }
        return records
    }
}
