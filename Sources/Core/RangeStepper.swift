/// One process's part of the steps that local processes take among themselves (issue 24): each
/// step it computes the partials of its shards into memory every process shares, waits for every
/// process (`barrier`), adds its range of the parameters (`ReductionRanges`) over every shard by the
/// reduction tree, updates that range by the run's optimizer onto the other parameter slot, and
/// waits again; the step is committed once every range's new values are finite.
///
/// Each value is added by the same tree and updated by the same rule from the same inputs as in
/// one process (the arithmetic of `RangeReducer`), so the bits are those of the in-process trainer
/// with the same shards, on any number of processes (`descent-bench local-step` checks it with
/// Descent's data; `RangeStepperTests` with threads). One thread steps it at a time (it may be
/// handed to the thread that does).
public final class RangeStepper: @unchecked Sendable {
    /// Where the values every process reads and writes lie: each process maps the same memory.
    public struct Memory {
        /// Each shard's partial, `ParameterLayout.count` values.
        public var partials: [UnsafeMutablePointer<Float>]
        /// Two slots of W, b: step t (counted from 0) reads slot t % 2 and writes slot (t + 1) % 2.
        public var parameters: [UnsafeMutablePointer<Float>]
        /// Each process's finiteness marks (`Finiteness`) of the step.
        public var marks: [UnsafeMutablePointer<UInt32>]
        /// Shard k's statistics in step t: Σ loss, correct count, example count.
        public var statistics: (_ step: Int, _ shard: Int) -> UnsafeMutablePointer<Double>

        public init(
            partials: [UnsafeMutablePointer<Float>], parameters: [UnsafeMutablePointer<Float>],
            marks: [UnsafeMutablePointer<UInt32>],
            statistics: @escaping (_ step: Int, _ shard: Int) -> UnsafeMutablePointer<Double>
        ) {
            (self.partials, self.parameters, self.marks, self.statistics) = (partials, parameters, marks, statistics)
        }
    }

    public let options: TrainingOptions
    public let schedule: BatchSchedule
    /// This process's index among `parties`, and so its range.
    public let rank: Int
    public let parties: Int
    public let range: Range<Int>
    /// The run's optimizer; only the moments of `range` are kept here.
    public let optimizer: Optimizer
    /// The last step's examples, correct count and Σ loss, added by the tree as the trainer adds
    /// them: its loss is `lossSum / examples`, the trainer's to the bit.
    public private(set) var statistics = GradientAccumulator.Statistics()
    /// Examples of this process's shards in the last step.
    public private(set) var examplesComputed = 0
    private let memory: Memory
    /// The shards this process computes, by id.
    private let shards: [Int: ShardData]
    private let partials: [ParameterBuffer]
    private let slots: [ParameterBuffer]
    private let workspace: Workspace
    private let accumulator: GradientAccumulator
    /// Each step's plan, as the trainer makes it.
    private var plans: StepPlans

    /// Process `rank` of `parties`, computing `shards` (any of `plan`'s; every shard is computed
    /// by exactly one process) and updating range `rank` of `ReductionRanges(count: parties)`.
    public init(
        options: TrainingOptions, plan: ShardPlan, shards: [ShardData], rank: Int, parties: Int, memory: Memory
    ) throws {
        precondition(rank >= 0 && rank < parties, "process \(rank) of \(parties)")
        precondition(memory.partials.count == plan.shardCount && memory.parameters.count == 2, "memory for the run")
        precondition(memory.marks.count == parties, "marks for every process")
        let layout = ParameterLayout(shape: options.shape)
        (self.options, self.rank, self.parties, self.memory) = (options, rank, parties, memory)
        schedule = try BatchSchedule(plan: plan, batch: options.batch, seed: options.seed)
        plans = StepPlans(schedule: schedule, options: options)
        self.shards = Dictionary(uniqueKeysWithValues: shards.map { ($0.id, $0) })
        partials = memory.partials.map { ParameterBuffer(layout: layout, sharing: $0, owner: memory) }
        slots = memory.parameters.map { ParameterBuffer(layout: layout, sharing: $0, owner: memory) }
        workspace = Workspace(shape: options.shape)
        let ranges = ReductionRanges(layout: layout, count: parties)
        precondition(ranges.count == parties, "a range for every process")
        range = ranges.range(rank)
        accumulator = GradientAccumulator(
            layout: layout, shards: plan.shardCount, segments: ranges.pieces.map(\.range),
            expecting: ranges.pieces(of: rank), othersHandedIn: false)
        optimizer = Optimizer(settings: options.optimizer, layout: layout)
    }

    /// Takes the optimizer's state at the start of a span of steps: its update count and this
    /// process's range of the moments from `first`, `second` (whole-layout arrays; nil where the
    /// rule keeps none).
    public func begin(updates: Int, first: UnsafePointer<Float>?, second: UnsafePointer<Float>?) {
        optimizer.updates = updates
        for (source, target) in [(first, optimizer.firstMoment), (second, optimizer.secondMoment)] {
            guard let source, let target else { continue }
            (target.values + range.lowerBound).update(from: source + range.lowerBound, count: range.count)
        }
    }

    /// Gives back this process's range of the moments after the span's last step.
    public func end(first: UnsafeMutablePointer<Float>?, second: UnsafeMutablePointer<Float>?) {
        for (target, source) in [(first, optimizer.firstMoment), (second, optimizer.secondMoment)] {
            guard let source, let target else { continue }
            (target + range.lowerBound).update(from: source.values + range.lowerBound, count: range.count)
        }
    }

    /// Takes the step after `step` committed ones; `barrier` returns once every process has
    /// called it as often. Throws `TrainingError.diverged` when the loss or a new value is not
    /// finite, as the trainer does (every process then throws at the same step; the slot written
    /// is not W, b, which stay in the other).
    public func step(_ step: Int, barrier: () throws -> Void) throws {
        let plan = plans.plan(step)
        let work = plan.work
        let (p, out) = (slots[step % 2], slots[(step + 1) % 2])
        examplesComputed = 0
        for item in work {
            guard let shard = shards[item.shard] else { continue }
            let evaluation = shard.computePartial(
                p, selection: item.selection, workspace: workspace, into: partials[item.shard])
            let stats = memory.statistics(step, item.shard)
            (stats[0], stats[1], stats[2]) = (
                evaluation.lossSum, Double(evaluation.correct), Double(item.selection.count)
            )
            examplesComputed += item.selection.count
        }
        try barrier()
        memory.marks[rank].pointee = reduce(
            step: step, work: work, parameters: p, examples: plan.examples, rate: plan.rate, into: out)
        statistics = .init(examples: accumulator.examples, correct: accumulator.correct, lossSum: accumulator.lossSum)
        try barrier()
        // Every process added every shard's statistics by the tree: all decide alike.
        let loss = statistics.lossSum / Double(max(1, statistics.examples))
        let marks = memory.marks.reduce(UInt32(0)) { $0 | $1.pointee }
        guard loss.isFinite, optimizer.commit(marks: marks) else {
            throw TrainingError.diverged(step: step + 1, loss: loss)
        }
    }

    /// This process's range: every shard's partial added by the tree, updated by the optimizer
    /// straight onto the next slot. Returns the new values' finiteness marks.
    private func reduce(
        step: Int, work: [ShardWork], parameters p: ParameterBuffer, examples: Int, rate: Float,
        into out: ParameterBuffer
    ) -> UInt32 {
        var marks: UInt32 = 0
        accumulator.reset(onSegmentComplete: { [self] piece in
            marks |= optimizer.update(
                p, gradientSum: accumulator.sum, range: piece, exampleCount: examples, learningRate: rate, into: out)
        })
        for item in work {
            let stats = memory.statistics(step, item.shard)
            accumulator.add(
                shard: item.shard, gradients: partials[item.shard].values, examples: Int(stats[2]),
                correct: Int(stats[1]), lossSum: stats[0])
        }
        return marks
    }
}
