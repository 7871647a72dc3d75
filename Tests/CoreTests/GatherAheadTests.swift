import Testing

@testable import Core

/// 40 examples of 6 features in 3 classes.
private let data = ExampleBatch(features: 6, count: 40, classes: 3, seed: 77)
private let shape = try! NetworkShape(layers: [6, 8, 3], activation: .relu)

/// The bits of `shard`'s partial for `selection`, computed in `workspace`.
private func partialBits(_ shard: ShardData, _ selection: ExampleSelection, _ p: ParameterBuffer, in workspace: Workspace) -> [UInt32] {
    let gradient = ParameterBuffer(layout: p.layout)
    shard.computePartial(p, selection: selection, workspace: workspace, into: gradient)
    return TestNetworks.bits(gradient)
}

/// Examples gathered ahead of their step (`ShardData.prepare`, what a worker does on NEXT_PLAN)
/// are what that step computes from — and never what another selection computes from.
@Suite struct GatherAheadTests {
    let p = TestNetworks.randomParameters(shape, seed: 1)
    let shard = ShardData(id: 0, dataset: data.dataset, range: 0..<40)

    @Test func aPreparedSelectionGivesTheBitsOfAFreshGather() {
        let selection = ExampleSelection.list([7, 3, 39, 0, 12, 3])
        let fresh = partialBits(shard, selection, p, in: Workspace(shape: shape))
        let workspace = Workspace(shape: shape)
        #expect(!shard.isPrepared(selection, in: workspace))
        shard.prepare(selection, workspace: workspace)
        #expect(shard.isPrepared(selection, in: workspace))
        #expect(partialBits(shard, selection, p, in: workspace) == fresh)
        // Still held afterwards: computing does not change the gathered examples.
        #expect(shard.isPrepared(selection, in: workspace))
        #expect(partialBits(shard, selection, p, in: workspace) == fresh)
    }

    /// A hint that turns out wrong — the same examples in another order, fewer, more, others —
    /// is gathered anew.
    @Test(arguments: [[2, 1, 3, 4] as [Int32], [1, 2, 3], [1, 2, 3, 4, 5], [9, 8, 7, 6]])
    func anotherSelectionIsGatheredAnew(_ other: [Int32]) {
        let workspace = Workspace(shape: shape)
        shard.prepare(.list([1, 2, 3, 4]), workspace: workspace)
        #expect(!shard.isPrepared(.list(other), in: workspace))
        #expect(partialBits(shard, .list(other), p, in: workspace) == partialBits(shard, .list(other), p, in: Workspace(shape: shape)))
        #expect(shard.isPrepared(.list(other), in: workspace) && !shard.isPrepared(.list([1, 2, 3, 4]), in: workspace))
    }

    /// The same indices of another shard are other examples.
    @Test func anotherShardsSelectionIsGatheredAnew() {
        let second = ShardData(id: 1, dataset: data.dataset, range: 20..<40)
        let selection = ExampleSelection.list([0, 5, 19])
        let workspace = Workspace(shape: shape)
        shard.prepare(selection, workspace: workspace)
        #expect(!second.isPrepared(selection, in: workspace))
        #expect(partialBits(second, selection, p, in: workspace) == partialBits(second, selection, p, in: Workspace(shape: shape)))
        #expect(partialBits(second, selection, p, in: workspace) != partialBits(shard, selection, p, in: Workspace(shape: shape)))
    }

    /// A shard received again under the same ID (a restarted coordinator's other data) is not
    /// the one whose examples were gathered, even should it be allocated where that one was.
    @Test func aShardReplacedUnderItsIDIsNotMistakenForTheOldOne() {
        let selection = ExampleSelection.list([3, 1, 2])
        let workspace = Workspace(shape: shape)
        func received(seed: UInt64) -> ShardData {
            let batch = ExampleBatch(features: 6, count: 5, classes: 3, seed: seed)
            return ShardData(id: 4, features: batch.features.copy(), labels: batch.labels)
        }
        var old: ShardData? = received(seed: 1)
        old!.prepare(selection, workspace: workspace)
        #expect(old!.isPrepared(selection, in: workspace))
        old = nil
        let replacement = received(seed: 2)
        #expect(!replacement.isPrepared(selection, in: workspace))
        #expect(partialBits(replacement, selection, p, in: workspace) == partialBits(replacement, selection, p, in: Workspace(shape: shape)))
    }

    /// Contiguous selections are used in place, and a selection the shard cannot serve is left
    /// for the step to refuse: neither is gathered ahead.
    @Test func onlyAServableShuffledSelectionIsPrepared() {
        let workspace = Workspace(shape: shape)
        shard.prepare(.range(0..<10), workspace: workspace)
        #expect(!shard.isPrepared(.range(0..<10), in: workspace))
        shard.prepare(.list([1, 40]), workspace: workspace)
        #expect(!shard.isPrepared(.list([1, 40]), in: workspace))
        #expect(!shard.isPrepared(.list([1]), in: workspace))
    }

    /// A workspace that grows for a larger batch lets go of what it had gathered.
    @Test func aWorkspaceThatGrowsForgetsWhatItGathered() {
        let workspace = Workspace(shape: shape)
        let selection = ExampleSelection.list([4, 2])
        shard.prepare(selection, workspace: workspace)
        _ = partialBits(shard, .range(0..<30), p, in: workspace)
        #expect(!shard.isPrepared(selection, in: workspace))
        #expect(partialBits(shard, selection, p, in: workspace) == partialBits(shard, selection, p, in: Workspace(shape: shape)))
    }
}

/// Records what the trainer names ahead (`prepare(next:)`) and what it then asks for.
private final class RecordingGradients: GradientSource {
    let inner: InProcessGradients
    var prepared: [[ShardWork]] = []
    var computed: [[ShardWork]] = []

    init(_ inner: InProcessGradients) { self.inner = inner }

    var workerCount: Int { 1 }

    func prepare(next work: [ShardWork]) { prepared.append(work) }

    func computePartials(step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator) throws {
        computed.append(work)
        try inner.computePartials(step: step, parameters: p, work: work, into: accumulator)
    }
}

@Suite struct TrainerPreparesTests {
    /// Before each shuffled step but the last, the trainer names exactly the work of the step
    /// after it — across epoch boundaries too (40 examples, batch 16: 3 steps an epoch) — and
    /// names nothing in full-batch training, where nothing is gathered.
    @Test(arguments: [16, 0])
    func theTrainerNamesTheNextStepsWork(batch: Int) throws {
        var options = try TrainingOptions(shape: shape)
        options.batch = batch
        options.steps = 8
        options.shards = 3
        let dataset = data.dataset
        let plan = try ShardPlan(exampleCount: dataset.count, shards: 3)
        let source = RecordingGradients(InProcessGradients(dataset: dataset, plan: plan, layout: ParameterLayout(shape: shape)))
        let trainer = try Trainer(options: options, exampleCount: dataset.count, source: source, testSet: nil, initial: nil)
        _ = try trainer.run()
        #expect(source.computed.count == 8)
        if batch == 0 {
            #expect(source.prepared.isEmpty)
        } else {
            #expect(source.prepared.count == 7)
            #expect(source.prepared == Array(source.computed.dropFirst()))
            #expect(Set(source.computed.map { $0.map(\.selection) }.map { "\($0)" }).count == 8, "every step a different batch")
        }
    }
}
