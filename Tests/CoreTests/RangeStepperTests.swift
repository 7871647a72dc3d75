import Foundation
import Testing

@testable import Core

/// 103 examples of 6 features in 3 classes: prime, so no shard count or batch divides it.
private let data = ExampleBatch(features: 6, count: 103, classes: 3, seed: 77)

/// A configuration of processes stepping among themselves.
struct StepperCase: Sendable, CustomTestStringConvertible {
    var parties: Int
    var shards: Int
    var batch: Int
    var optimizer: OptimizerKind
    var weightDecay: Float = 0
    var testDescription: String {
        "\(parties) processes, \(shards) shards, batch \(batch == 0 ? "full" : String(batch)), \(optimizer.rawValue)"
            + (weightDecay > 0 ? ", λ \(weightDecay)" : "")
    }
}

/// The local processes' steps (`RangeStepper`), each process a thread here, against the
/// in-process trainer: the same weights, bit for bit, whatever the number of processes, the
/// shards each computes, the batch (epochs crossed, shards without examples) and the rule.
@Suite("Range stepper")
struct RangeStepperTests {
    @Test(
        "Processes stepping among themselves end with the in-process trainer's bits",
        arguments: [
            StepperCase(parties: 2, shards: 2, batch: 16, optimizer: .adam),
            StepperCase(parties: 2, shards: 4, batch: 16, optimizer: .sgd),
            StepperCase(parties: 3, shards: 5, batch: 16, optimizer: .momentum, weightDecay: 0.01),
            StepperCase(parties: 2, shards: 4, batch: 0, optimizer: .adam, weightDecay: 0.001),
            StepperCase(parties: 3, shards: 4, batch: 3, optimizer: .sgd),
            StepperCase(parties: 1, shards: 3, batch: 16, optimizer: .adam),
        ])
    func sameBitsAsTheTrainer(c: StepperCase) throws {
        let options = try Self.options(c, steps: 15)
        let trainer = try Self.trainer(options)
        _ = try trainer.run()
        let run = try LocalRun(options: options, parties: c.parties)
        let errors = run.step(count: 15)
        #expect(errors.allSatisfy { $0 == nil }, "\(errors)")
        #expect(run.parameters(after: 15).map(\.bitPattern) == trainer.parameters.array.map(\.bitPattern))
        #expect(try run.statisticsAreTheTrainers(options: options))
    }

    @Test("A step that diverges stops every process at the trainer's step, W, b kept")
    func divergenceStopsEveryProcess() throws {
        let options = try Self.options(StepperCase(parties: 2, shards: 2, batch: 16, optimizer: .adam), steps: 15)
        let initial = ParameterBuffer(layout: ParameterLayout(shape: options.shape))
        Initializer.initialize(initial, seed: options.seed)
        initial.bias(2)[0] = .infinity
        let trainer = try Self.trainer(options, initial: initial)
        let error = #expect(throws: TrainingError.self) { try trainer.run() }
        guard case .diverged(let step, _) = error else {
            Issue.record("expected .diverged, got \(String(describing: error))")
            return
        }
        let run = try LocalRun(options: options, parties: 2, initial: initial)
        let errors = run.step(count: 15)
        for error in errors {
            guard case TrainingError.diverged(let at, _)? = error else {
                Issue.record("expected .diverged, got \(String(describing: error))")
                continue
            }
            #expect(at == step)
        }
        #expect(run.parameters(after: step - 1).map(\.bitPattern) == initial.array.map(\.bitPattern))
    }

    static func options(_ c: StepperCase, steps: Int) throws -> TrainingOptions {
        var options = try TrainingOptions(shape: NetworkShape(layers: [6, 8, 5, 3], activation: .tanh))
        options.batch = c.batch
        options.optimizer = OptimizerSettings(kind: c.optimizer)
        options.optimizer.weightDecay = c.weightDecay
        options.learningRate = c.optimizer == .adam ? 0.01 : 0.1
        options.schedule = .cosine(totalSteps: steps)
        options.steps = steps
        options.seed = 5
        options.shards = c.shards
        return options
    }

    static func trainer(_ options: TrainingOptions, initial: ParameterBuffer? = nil) throws -> Trainer {
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let source = InProcessGradients(
            dataset: data.dataset, plan: plan, layout: ParameterLayout(shape: options.shape))
        return try Trainer(options: options, exampleCount: data.count, source: source, testSet: nil, initial: initial)
    }
}

/// The memory local processes would share, and one thread a process stepping over it.
private final class LocalRun: @unchecked Sendable {
    let options: TrainingOptions
    let parties: Int
    let plan: ShardPlan
    let layout: ParameterLayout
    private let shared: SharedValues
    private let barrier: ThreadsBarrier
    /// Process 0's statistics of each step.
    let recorded = Recorded()

    /// - Parameter initial: W, b before the first step; from the seed when nil.
    init(options: TrainingOptions, parties: Int, initial: ParameterBuffer? = nil) throws {
        self.options = options
        self.parties = parties
        plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        layout = ParameterLayout(shape: options.shape)
        shared = SharedValues(count: layout.count, shards: plan.shardCount, parties: parties)
        barrier = ThreadsBarrier(parties: parties)
        let first = ParameterBuffer(layout: layout, sharing: shared.slots[0], owner: shared)
        if let initial { first.copy(from: initial) } else { Initializer.initialize(first, seed: options.seed) }
    }

    /// Runs `count` steps, process r computing the shards r, r + parties, …; each process's error.
    func step(count: Int) -> [Error?] {
        let errors = Errors(parties)
        let group = DispatchGroup()
        for rank in 0..<parties {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                do {
                    let memory = shared.memory
                    let mine = stride(from: rank, to: plan.shardCount, by: parties).map {
                        ShardData(id: $0, dataset: data.dataset, range: plan.ranges[$0])
                    }
                    let stepper = try RangeStepper(
                        options: options, plan: plan, shards: mine, rank: rank, parties: parties, memory: memory)
                    for t in 0..<count {
                        try stepper.step(t, barrier: barrier.wait)
                        if rank == 0 { recorded.append(stepper.statistics) }
                    }
                } catch {
                    errors.set(rank, error)
                }
            }.start()
        }
        group.wait()
        return errors.all
    }

    /// W, b after `steps` committed steps.
    func parameters(after steps: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: shared.slots[steps % 2], count: layout.count))
    }

    /// Whether each step's examples, loss and accuracy, as process 0 added them, are what the
    /// trainer reports.
    func statisticsAreTheTrainers(options: TrainingOptions) throws -> Bool {
        let trainer = try RangeStepperTests.trainer(options)
        var reports: [StepReport] = []
        _ = try trainer.run(onStep: { reports.append($0) })
        let seen = recorded.all
        return reports.count == seen.count
            && zip(reports, seen).allSatisfy { report, stats in
                stats.examples == report.examples && stats.lossSum / Double(report.examples) == report.loss
                    && Double(stats.correct) / Double(report.examples) == report.accuracy
            }
    }
}

/// Process 0's statistics, step by step.
private final class Recorded: @unchecked Sendable {
    private let lock = NSLock()
    private var statistics: [GradientAccumulator.Statistics] = []

    func append(_ stats: GradientAccumulator.Statistics) {
        lock.lock()
        defer { lock.unlock() }
        statistics.append(stats)
    }

    var all: [GradientAccumulator.Statistics] {
        lock.lock()
        defer { lock.unlock() }
        return statistics
    }
}

/// Each thread's error, under a lock.
private final class Errors: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error?]

    init(_ count: Int) { errors = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ error: Error) {
        lock.lock()
        defer { lock.unlock() }
        errors[index] = error
    }

    var all: [Error?] {
        lock.lock()
        defer { lock.unlock() }
        return errors
    }
}
