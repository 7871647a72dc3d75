import Testing

@testable import Core

/// `--reducers`' arithmetic in one process: ranges cut where they may be, pieces summed and
/// updated by `RangeReducer`s, and the trainer's bits unchanged by where each range was updated.
@Suite struct RangeReducerTests {
    static let shape = try! NetworkShape(layers: [784, 200, 10], activation: .relu)

    @Test(arguments: [1, 2, 3, 5, 16])
    func rangesPartitionTheParametersAndPiecesPartitionEachSegment(count: Int) throws {
        let layout = ParameterLayout(shape: Self.shape)
        let ranges = ReductionRanges(layout: layout, count: count)
        #expect(ranges.count == count)
        #expect(ranges.boundaries.first == 0 && ranges.boundaries.last == layout.count)
        for r in 0..<count {
            #expect(!ranges.range(r).isEmpty)
            #expect(ranges.range(r).lowerBound % ReductionRanges.alignment == 0)
        }
        // Each range holds about 1/S of the values.
        let longest = (0..<count).map { ranges.range($0).count }.max()!
        #expect(longest <= layout.count / count + ReductionRanges.alignment)
        for (s, segment) in layout.segments.enumerated() {
            let pieces = ranges.pieces(inSegment: s).map { ranges.pieces[$0] }
            #expect(pieces.first?.range.lowerBound == segment.range.lowerBound)
            #expect(pieces.last?.range.upperBound == segment.range.upperBound)
            for (a, b) in zip(pieces, pieces.dropFirst()) { #expect(a.range.upperBound == b.range.lowerBound) }
            for piece in pieces { #expect(ranges.range(piece.owner).contains(piece.range.lowerBound)) }
        }
        if count == 1 { #expect(ranges.pieces.map(\.range) == layout.segments.map(\.range)) }
    }

    @Test func boundariesFromAMessageAreChecked() {
        let layout = ParameterLayout(shape: Self.shape)
        let n = layout.count
        #expect(ReductionRanges(layout: layout, boundaries: [0, 1000, n]) != nil)
        #expect(ReductionRanges(layout: layout, boundaries: [0, n]) != nil)
        #expect(ReductionRanges(layout: layout, boundaries: [0]) == nil)
        #expect(ReductionRanges(layout: layout, boundaries: [1, n]) == nil)
        #expect(ReductionRanges(layout: layout, boundaries: [0, n - 1]) == nil)
        #expect(ReductionRanges(layout: layout, boundaries: [0, 500, 500, n]) == nil)
        #expect(ReductionRanges(layout: layout, boundaries: [0, 700, 500, n]) == nil)
    }

    @Test func aReducerTakesStateOnlyInItsRange() {
        let layout = ParameterLayout(shape: Self.shape)
        let ranges = ReductionRanges(layout: layout, count: 2)
        let reducer = RangeReducer(
            layout: layout, shards: 2, ranges: ranges, rank: 1, optimizer: OptimizerSettings(kind: .adam), updates: 0,
            step: 0)
        let r = ranges.range(1)
        let values = [Float](repeating: 1, count: r.count)
        #expect(!reducer.begin(step: 1, learningRate: 0.1, exampleCount: 8), "nothing loaded yet")
        values.withUnsafeBufferPointer { all in
            #expect(!reducer.load(.values, offset: r.lowerBound - 1, values: all), "starts before the range")
            #expect(!reducer.load(.values, offset: r.lowerBound + 1, values: all), "ends past the range")
            #expect(reducer.load(.values, offset: r.lowerBound, values: all))
            #expect(!reducer.isLoaded, "adam's moments are still missing")
            #expect(reducer.load(.firstMoment, offset: r.lowerBound, values: all))
            #expect(reducer.load(.secondMoment, offset: r.lowerBound, values: all))
        }
        #expect(reducer.isLoaded)
        #expect(!reducer.begin(step: 2, learningRate: 0.1, exampleCount: 8), "step 1 comes first")
        #expect(reducer.begin(step: 1, learningRate: 0.1, exampleCount: 8))
        #expect(reducer.result() == nil, "no piece is in")
    }

    /// The trainer with ranges 1…S−1 summed and updated by reducers gives the bits of the trainer
    /// alone, W, b and moments, for every rule, with weight decay.
    @Test(arguments: [(OptimizerKind.sgd, 2), (.momentum, 3), (.adam, 2), (.adam, 4)])
    func reducersGiveTheBitsOfOneProcess(kind: OptimizerKind, count: Int) throws {
        let data = ExampleBatch(features: 784, count: 90, classes: 10, seed: 61)
        var options = TrainingOptions(shape: Self.shape)
        options.batch = 32
        options.shards = 3
        options.steps = 6
        options.learningRate = 0.01
        options.optimizer = OptimizerSettings(kind: kind)
        options.optimizer.weightDecay = 0.01
        let layout = ParameterLayout(shape: options.shape)
        let plan = try ShardPlan(exampleCount: data.count, shards: options.shards)
        let initial = TestNetworks.randomParameters(options.shape, seed: 9)
        let alone = try Trainer(
            options: options, exampleCount: data.count,
            source: InProcessGradients(dataset: data.dataset, plan: plan, layout: layout), testSet: nil,
            initial: initial)
        _ = try alone.run()

        let ranges = ReductionRanges(layout: layout, count: count)
        let source = ReducingSource(
            dataset: data.dataset, plan: plan, layout: layout, ranges: ranges, optimizer: options.optimizer,
            initial: initial)
        let reduced = try Trainer(
            options: options, exampleCount: data.count, source: source, testSet: nil, initial: initial)
        _ = try reduced.run()
        try source.gatherOptimizerState(into: reduced.optimizer, step: reduced.step)

        func differing(_ a: ParameterBuffer?, _ b: ParameterBuffer?) -> Int {
            guard let a, let b else { return a == nil && b == nil ? 0 : -1 }
            return zip(TestNetworks.bits(a), TestNetworks.bits(b)).filter { $0 != $1 }.count
        }
        #expect(source.piecesToReducers > 0, "the reducers must have taken part")
        #expect(differing(alone.parameters, reduced.parameters) == 0, "W, b")
        #expect(differing(alone.optimizer.firstMoment, reduced.optimizer.firstMoment) == 0, "first moment")
        #expect(differing(alone.optimizer.secondMoment, reduced.optimizer.secondMoment) == 0, "second moment")
        #expect(reduced.optimizer.updates == 6)
    }
}

/// In-process partials whose pieces go to the range they belong to: range 0 to the trainer's
/// accumulator, the others to `RangeReducer`s, whose new values are handed back as a reducer's
/// REDUCED would be.
private final class ReducingSource: GradientSource {
    let shards: [ShardData]
    let layout: ParameterLayout
    let ranges: ReductionRanges
    let reducers: [RangeReducer]
    let workspace: Workspace
    let gradient: ParameterBuffer
    var piecesToReducers = 0

    init(
        dataset: Dataset, plan: ShardPlan, layout: ParameterLayout, ranges: ReductionRanges,
        optimizer: OptimizerSettings, initial: ParameterBuffer
    ) {
        shards = plan.ranges.enumerated().map { ShardData(id: $0.offset, dataset: dataset, range: $0.element) }
        self.layout = layout
        self.ranges = ranges
        workspace = Workspace(shape: layout.shape)
        gradient = ParameterBuffer(layout: layout)
        reducers = (1..<ranges.count).map { r in
            let reducer = RangeReducer(
                layout: layout, shards: plan.shardCount, ranges: ranges, rank: r, optimizer: optimizer, updates: 0,
                step: 0)
            let range = ranges.range(r)
            let zeros = [Float](repeating: 0, count: range.count)
            _ = reducer.load(
                .values, offset: range.lowerBound,
                values: UnsafeBufferPointer(start: initial.values + range.lowerBound, count: range.count))
            zeros.withUnsafeBufferPointer { zeros in
                _ = reducer.load(.firstMoment, offset: range.lowerBound, values: zeros)
                _ = reducer.load(.secondMoment, offset: range.lowerBound, values: zeros)
            }
            return reducer
        }
    }

    var workerCount: Int { 1 }

    var reduction: (ranges: ReductionRanges, local: Set<Int>)? { (ranges, [0]) }

    func prepareUpdate(step: Int, learningRate: Float, exampleCount: Int, optimizer: Optimizer) throws {
        for reducer in reducers {
            guard reducer.begin(step: step, learningRate: learningRate, exampleCount: exampleCount) else {
                throw TrainingError.incompleteStep(step: step, expected: exampleCount, got: 0)
            }
        }
    }

    func computePartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        for item in work {
            let evaluation = shards[item.shard].computePartial(
                p, selection: item.selection, workspace: workspace, into: gradient)
            let stats = GradientAccumulator.Statistics(
                examples: item.selection.count, correct: evaluation.correct, lossSum: evaluation.lossSum)
            for (index, piece) in ranges.pieces.enumerated() {
                let target = piece.owner == 0 ? accumulator : reducers[piece.owner - 1].accumulator
                if piece.owner != 0 { piecesToReducers += 1 }
                target.add(
                    item.shard..<item.shard + 1, segment: index, values: gradient.values + piece.range.lowerBound,
                    statistics: stats)
            }
        }
        for reducer in reducers {
            guard let (values, marks) = reducer.result() else {
                throw TrainingError.incompleteStep(step: step, expected: 0, got: 0)
            }
            accumulator.takeReduced(reducer.range, values: values.baseAddress!, marks: marks)
        }
    }

    func gatherOptimizerState(into optimizer: Optimizer, step: Int) throws {
        for reducer in reducers {
            reducer.commit(through: step)
            for (part, buffer) in [
                (RangeReducer.Part.firstMoment, optimizer.firstMoment), (.secondMoment, optimizer.secondMoment),
            ] {
                guard let buffer, let state = reducer.state(part) else { continue }
                (buffer.values + reducer.range.lowerBound).update(from: state.baseAddress!, count: state.count)
            }
        }
    }
}
