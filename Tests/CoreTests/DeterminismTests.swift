import Testing

@testable import Core

/// 103 examples of 6 features in 3 classes: prime, so no shard count or batch divides it.
private let data = ExampleBatch(features: 6, count: 103, classes: 3, seed: 2024)

/// In-process training, but each step's shards computed in a scrambled order: the accumulator
/// must restore shard order, so the bits cannot change.
private final class ScrambledGradients: GradientSource {
    let inner: InProcessGradients
    private let scramble: ([ShardWork]) -> [ShardWork]

    init(_ inner: InProcessGradients, scramble: @escaping ([ShardWork]) -> [ShardWork]) {
        self.inner = inner
        self.scramble = scramble
    }

    var workerCount: Int { 1 }

    func computePartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        try inner.computePartials(step: step, parameters: p, work: scramble(work), into: accumulator)
    }
}

/// The configuration a test varies.
struct RunCase: Sendable, CustomTestStringConvertible {
    var batch: Int
    var optimizer: OptimizerKind
    var testDescription: String { "batch \(batch == 0 ? "full" : String(batch)), \(optimizer.rawValue)" }
}

/// Full batch and mini-batch, every optimizer, and a batch smaller than the shard count, so some
/// shards contribute no examples to a step.
private let runCases = [
    RunCase(batch: 0, optimizer: .sgd), RunCase(batch: 16, optimizer: .sgd),
    RunCase(batch: 0, optimizer: .momentum), RunCase(batch: 16, optimizer: .adam),
    RunCase(batch: 3, optimizer: .momentum),
]

private func runOptions(_ c: RunCase, seed: UInt64 = 9, shards: Int = 4, steps: Int = 10) throws -> TrainingOptions {
    var options = try TrainingOptions(shape: NetworkShape(layers: [6, 8, 5, 3], activation: .tanh))
    options.batch = c.batch
    options.optimizer = OptimizerSettings(kind: c.optimizer)
    options.learningRate = c.optimizer == .adam ? 0.01 : 0.1
    options.steps = steps
    options.seed = seed
    options.shards = shards
    return options
}

/// Trains on `data` and returns the trainer, its parameters final.
private func train(
    _ options: TrainingOptions, initial: ParameterBuffer? = nil, threads: Int = 1,
    scramble: (([ShardWork]) -> [ShardWork])? = nil
) throws -> Trainer {
    let dataset = data.dataset
    let plan = try ShardPlan(exampleCount: dataset.count, shards: options.shards)
    let inProcess = InProcessGradients(
        dataset: dataset, plan: plan, layout: ParameterLayout(shape: options.shape), threads: threads)
    let source: GradientSource = scramble.map { ScrambledGradients(inProcess, scramble: $0) } ?? inProcess
    let trainer = try Trainer(
        options: options, exampleCount: dataset.count, source: source, testSet: nil, initial: initial)
    _ = try trainer.run()
    return trainer
}

@Suite struct DeterminismTests {
    @Test(arguments: runCases)
    func sameSeedGivesSameBits(c: RunCase) throws {
        let first = try train(runOptions(c))
        let second = try train(runOptions(c))
        #expect(first.step == 10)
        #expect(TestNetworks.bits(first.parameters) == TestNetworks.bits(second.parameters))

        let initial = ParameterBuffer(layout: first.parameters.layout)
        Initializer.initialize(initial, seed: 9)
        #expect(TestNetworks.bits(first.parameters) != TestNetworks.bits(initial), "training must move the parameters")
        let otherSeed = try train(runOptions(c, seed: 10))
        #expect(TestNetworks.bits(first.parameters) != TestNetworks.bits(otherSeed.parameters))
    }

    /// Invariant 2: shards computed in any order reduce to the same bits.
    @Test(arguments: runCases)
    func shardComputationOrderDoesNotChangeBits(c: RunCase) throws {
        let ordered = try train(runOptions(c))
        let reversed = try train(runOptions(c), scramble: { $0.reversed() })
        let rotated = try train(runOptions(c), scramble: { Array($0[2...] + $0[..<2]) })
        #expect(TestNetworks.bits(ordered.parameters) == TestNetworks.bits(reversed.parameters))
        #expect(TestNetworks.bits(ordered.parameters) == TestNetworks.bits(rotated.parameters))
    }

    /// Shards computed side by side on 2 or 3 threads (lanes taking unequal numbers of shards,
    /// and steps where some shards have no examples) give the bits of one thread.
    @Test(arguments: runCases)
    func threadsComputingShardsDoNotChangeBits(c: RunCase) throws {
        let serial = try train(runOptions(c, shards: 5))
        for threads in [2, 3] {
            let parallel = try train(runOptions(c, shards: 5), threads: threads)
            #expect(
                TestNetworks.bits(serial.parameters) == TestNetworks.bits(parallel.parameters), "\(threads) threads")
        }
        let dataset = data.dataset
        let source = InProcessGradients(
            dataset: dataset, plan: try ShardPlan(exampleCount: dataset.count, shards: 5),
            layout: serial.parameters.layout, threads: 2)
        #expect(source.computesShardsInParallel)
    }

    /// Invariant 3: a partial depends only on the shard, the selection and the parameters — not on
    /// the process, its workspace's history, or whether the shard came from a dataset or the wire.
    @Test func partialDependsOnlyOnShardAndParameters() throws {
        let shape = try NetworkShape(layers: [6, 8, 5, 3], activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 3)
        let dataset = data.dataset
        let plan = try ShardPlan(exampleCount: dataset.count, shards: 4)
        let range = plan.ranges[2]
        let selection = ExampleSelection.list([5, 0, 24, 3, 17, 11, 2])

        let local = ShardData(id: 2, dataset: dataset, range: range)
        let usedWorkspace = Workspace(shape: shape, capacity: 200)
        let scratch = ParameterBuffer(layout: p.layout)
        _ = ShardData(id: 0, dataset: dataset, range: plan.ranges[0])
            .computePartial(p, selection: .range(0..<plan.ranges[0].count), workspace: usedWorkspace, into: scratch)
        let fromDataset = ParameterBuffer(layout: p.layout)
        let e1 = local.computePartial(p, selection: selection, workspace: usedWorkspace, into: fromDataset)

        let columns = Array(data.features.columnMajorValues[range.lowerBound * 6..<range.upperBound * 6])
        let wire = ShardData(
            id: 2, features: Matrix(rows: 6, cols: range.count, columnMajor: columns),
            labels: Array(dataset.labels[range]))
        let fromWire = ParameterBuffer(layout: p.layout)
        let e2 = wire.computePartial(p, selection: selection, workspace: Workspace(shape: shape), into: fromWire)

        #expect(TestNetworks.bits(fromDataset) == TestNetworks.bits(fromWire))
        #expect(e1.lossSum.bitPattern == e2.lossSum.bitPattern && e1.correct == e2.correct)
        #expect(TestNetworks.bits(fromDataset) != TestNetworks.bits(scratch), "different examples, different partial")
    }

    /// A shuffled selection is gathered (`CGather`) into exactly the examples it names, in its
    /// order, repeats included: its partial has the bits of the same examples laid out by hand
    /// and taken in place. 37 features: examples that start and end mid cache line.
    @Test(arguments: [6, 37])
    func aGatheredSelectionIsTheExamplesItNames(features: Int) throws {
        let shape = try NetworkShape(layers: [features, 8, 3], activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 4)
        let batch = ExampleBatch(features: features, count: 50, classes: 3, seed: 31)
        let indices: [Int32] = [49, 0, 17, 17, 3, 48, 25, 1, 30]
        let shard = ShardData(id: 0, features: batch.features.copy(), labels: batch.labels)
        let gathered = ParameterBuffer(layout: p.layout)
        let e1 = shard.computePartial(p, selection: .list(indices), workspace: Workspace(shape: shape), into: gathered)

        let values = batch.features.columnMajorValues
        let byHand = ShardData(
            id: 0,
            features: Matrix(
                rows: features, cols: indices.count,
                columnMajor: indices.flatMap { values[Int($0) * features..<(Int($0) + 1) * features] }),
            labels: indices.map { batch.labels[Int($0)] })
        let inPlace = ParameterBuffer(layout: p.layout)
        let e2 = byHand.computePartial(
            p, selection: .range(0..<indices.count), workspace: Workspace(shape: shape), into: inPlace)

        #expect(TestNetworks.bits(gathered) == TestNetworks.bits(inPlace))
        #expect(e1.lossSum.bitPattern == e2.lossSum.bitPattern && e1.correct == e2.correct)
    }

    /// A shard whose values are all pixels p / 255 is kept as byte codes, a quarter of the
    /// memory, and its partials — gathered or a range, repeats included — have the bits of the
    /// same shard kept as floats. Every code occurs, so every decoding is checked.
    @Test func aShardKeptAsByteCodesGivesTheBitsOfItsFloats() throws {
        let features = 37
        let count = 60
        let shape = try NetworkShape(layers: [features, 8, 3], activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 5)
        var random = Xoshiro256(seed: 9)
        let pixels = (0..<features * count).map { $0 < 256 ? Float($0) / 255 : Float(random.next(below: 256)) / 255 }
        let labels = (0..<count).map { Int32($0 % 3) }
        let floats = ShardData(
            id: 0, features: Matrix(rows: features, cols: count, columnMajor: pixels), labels: labels)
        // Written in two chunks, the later examples first.
        let builder = ShardFeatureBuilder(featureCount: features, count: count)
        pixels.withUnsafeBufferPointer { all in
            builder.write(UnsafeBufferPointer(rebasing: all[(25 * features)...]), at: 25)
            builder.write(UnsafeBufferPointer(rebasing: all[..<(25 * features)]), at: 0)
        }
        let codes = builder.finish(id: 0, labels: labels)
        #expect(codes.keepsByteCodes && !floats.keepsByteCodes)
        #expect(codes.featureBytes == features * count && floats.featureBytes == 4 * features * count)
        // A range (a full batch's selection) turns the shard into floats for good: the bits stay.
        for selection in [
            ExampleSelection.list([59, 0, 17, 17, 3, 48, 25, 1, 30]), .range(13..<29), .list([2, 2, 40]),
            .range(0..<count),
        ] {
            let fromFloats = ParameterBuffer(layout: p.layout)
            let fromCodes = ParameterBuffer(layout: p.layout)
            let e1 = floats.computePartial(
                p, selection: selection, workspace: Workspace(shape: shape), into: fromFloats)
            let e2 = codes.computePartial(p, selection: selection, workspace: Workspace(shape: shape), into: fromCodes)
            #expect(TestNetworks.bits(fromFloats) == TestNetworks.bits(fromCodes), "\(selection)")
            #expect(e1.lossSum.bitPattern == e2.lossSum.bitPattern && e1.correct == e2.correct)
            if case .range = selection { #expect(!codes.keepsByteCodes && codes.featureBytes == 4 * features * count) }
        }
    }

    /// A shard with any value that is not exactly a code's is kept as floats — one ulp off a
    /// pixel, −0, past 1, below 0, not a number — with every value as it arrived, whichever
    /// chunk brought the odd one.
    @Test(arguments: [Float(7) / 255 + Float(7).ulp / 255, -0.0, 256 / 255, -1 / 255, .nan, .infinity, 0.3])
    func aShardWithAnyOtherValueKeepsItsFloats(odd: Float) throws {
        let shape = try NetworkShape(layers: [4, 3, 2], activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 6)
        for oddExample in [1, 8] {
            var pixels = (0..<40).map { Float(($0 * 37) % 256) / 255 }
            pixels[oddExample * 4 + 2] = odd
            let labels = (0..<10).map { Int32($0 % 2) }
            let builder = ShardFeatureBuilder(featureCount: 4, count: 10)
            pixels.withUnsafeBufferPointer { all in
                builder.write(UnsafeBufferPointer(rebasing: all[..<20]), at: 0)
                builder.write(UnsafeBufferPointer(rebasing: all[20...]), at: 5)
            }
            let shard = builder.finish(id: 0, labels: labels)
            #expect(!shard.keepsByteCodes && shard.featureBytes == 4 * 40)
            let floats = ShardData(id: 0, features: Matrix(rows: 4, cols: 10, columnMajor: pixels), labels: labels)
            let a = ParameterBuffer(layout: p.layout)
            let b = ParameterBuffer(layout: p.layout)
            // A NaN or infinite input makes a non-finite partial: compare bits, which NaN keeps.
            _ = shard.computePartial(p, selection: .list([9, 0, 1, 8]), workspace: Workspace(shape: shape), into: a)
            _ = floats.computePartial(p, selection: .list([9, 0, 1, 8]), workspace: Workspace(shape: shape), into: b)
            #expect(TestNetworks.bits(a) == TestNetworks.bits(b), "the odd value in example \(oddExample)")
        }
    }

    /// One full-batch sgd step from known weights is W − α·∇J, ∇J from the Float64 reference.
    @Test(arguments: [1, 3])
    func fullBatchSGDStepMatchesReference(shards: Int) throws {
        var options = try runOptions(RunCase(batch: 0, optimizer: .sgd), shards: shards, steps: 1)
        options.learningRate = 0.5
        let initial = TestNetworks.randomParameters(options.shape, seed: 8)
        let reference = ReferenceNetwork(initial)
        let g = reference.gradient(data.rows, labels: data.labels)
        var reportedLoss = Double.nan
        let dataset = data.dataset
        let plan = try ShardPlan(exampleCount: dataset.count, shards: shards)
        let trainer = try Trainer(
            options: options, exampleCount: dataset.count,
            source: InProcessGradients(dataset: dataset, plan: plan, layout: initial.layout), testSet: nil,
            initial: initial)
        _ = try trainer.run(onStep: { reportedLoss = $0.loss })

        let p = trainer.parameters
        let alpha = 0.5
        for l in 1...options.shape.depth {
            let rows = options.shape.layers[l]
            for i in 0..<rows {
                for j in 0..<options.shape.layers[l - 1] {
                    let expected = reference.weights[l][i][j] - alpha * g.dW[l][i][j]
                    let actual = Double(p.weight(l)[i + j * rows])
                    #expect(abs(actual - expected) <= 1e-5 * max(1, abs(expected)), "W\(l)[\(i), \(j)]")
                }
                let expected = reference.biases[l][i] - alpha * g.db[l][i]
                #expect(abs(Double(p.bias(l)[i]) - expected) <= 1e-5 * max(1, abs(expected)), "b\(l)[\(i)]")
            }
        }
        let j = reference.loss(data.rows, labels: data.labels)
        #expect(abs(reportedLoss - j) <= 1e-6 * max(1, j), "the step reports J before the update")
        #expect(g.maxMagnitude * alpha > 1e-3, "the step must be large enough to see")
    }

    @Test func initializerIsSeededAndZeroesBiases() throws {
        let layout = try ParameterLayout(shape: NetworkShape(layers: [20, 30, 30, 5], activation: .relu))
        let (a, b, c) = (
            ParameterBuffer(layout: layout), ParameterBuffer(layout: layout), ParameterBuffer(layout: layout)
        )
        a.fill(1)
        Initializer.initialize(a, seed: 5)
        Initializer.initialize(b, seed: 5)
        Initializer.initialize(c, seed: 6)
        #expect(TestNetworks.bits(a) == TestNetworks.bits(b))
        for l in 1...3 {
            #expect((0..<layout.shape.layers[l]).allSatisfy { a.bias(l)[$0] == 0 }, "b\(l) starts at zero")
            let count = layout.weightCount(l)
            let same = (0..<count).filter { a.weight(l)[$0] == c.weight(l)[$0] }.count
            #expect(same == 0, "W\(l): another seed must give other weights")
        }
        // Layers 2 and 3 have the same fan-in and σ; their own streams make them differ.
        let w2 = Array(UnsafeBufferPointer(start: a.weight(2), count: 150))
        #expect(w2 != Array(UnsafeBufferPointer(start: a.weight(3), count: 150)))
    }

    /// He σ = √(2/n_in) for relu-like, Glorot σ = √(2/(n_in + n_out)) for tanh and sigmoid; the
    /// sample of 65 536 weights lands within 10% (its own error is about 0.3%).
    @Test(arguments: Activation.allCases)
    func initializerStandardDeviation(activation: Activation) throws {
        let layout = try ParameterLayout(shape: NetworkShape(layers: [256, 256, 4], activation: activation))
        let p = ParameterBuffer(layout: layout)
        Initializer.initialize(p, seed: 12)
        let w = (0..<layout.weightCount(1)).map { Double(p.weight(1)[$0]) }
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count - 1)).squareRoot()
        let sigma =
            activation == .relu || activation == .leakyRelu ? (2.0 / 256).squareRoot() : (2.0 / 512).squareRoot()
        #expect(abs(std - sigma) <= 0.1 * sigma, "sample σ \(std), expected \(sigma)")
        #expect(abs(mean) <= 4 * sigma / 256, "sample mean \(mean)")
    }
}
