import Core

/// Overrules a poisoned partial: the coordinator computes the shard's partial itself, with the
/// arithmetic every worker uses, so the sum has the bits an honest worker would have given it.
/// If its own result is not finite either, the run has diverged. Either way W, b never see the
/// bad values.
final class Arbiter {
    private let dataset: Dataset
    private let plan: ShardPlan
    private let layout: ParameterLayout
    /// The coordinator's own view of each shard, made on first need.
    private var shards: [Int: ShardData] = [:]
    private lazy var workspace = Workspace(shape: layout.shape)
    private lazy var gradient = ParameterBuffer(layout: layout)
    /// Hears every partial computed here, whole: the reducers take their ranges' pieces of it.
    var onComputed: ((Range<Int>, UnsafePointer<Float>, GradientAccumulator.Statistics) -> Void)?

    init(dataset: Dataset, plan: ShardPlan, layout: ParameterLayout) {
        self.dataset = dataset
        self.plan = plan
        self.layout = layout
    }

    /// Computes `work`'s shard for `parameters` and adds the segments `accumulator` does not hold
    /// yet (those in came from a worker that checked out so far). Returns the examples computed;
    /// throws `TrainingError.diverged` when the partial is not finite.
    func settle(_ work: ShardWork, step: Int, parameters: ParameterBuffer, into accumulator: GradientAccumulator)
        throws -> Int
    {
        let shard = work.shard
        let data = shards[shard] ?? ShardData(id: shard, dataset: dataset, range: plan.ranges[shard])
        shards[shard] = data
        let evaluation = data.computePartial(
            parameters, selection: work.selection, workspace: workspace, into: gradient)
        let examples = work.selection.count
        guard evaluation.lossSum.isFinite, gradient.isFinite else {
            throw TrainingError.diverged(step: step, loss: evaluation.lossSum / Double(max(examples, 1)))
        }
        accumulator.add(
            shard: shard, gradients: gradient.values, examples: examples, correct: evaluation.correct,
            lossSum: evaluation.lossSum)
        onComputed?(
            shard..<shard + 1, gradient.values,
            .init(examples: examples, correct: evaluation.correct, lossSum: evaluation.lossSum))
        return examples
    }
}
