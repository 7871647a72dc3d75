/// Where a step's partials come from: this process (`InProcessGradients`) or a pool of workers.
public protocol GradientSource: AnyObject {
    /// Processes computing partials right now (1 in-process).
    var workerCount: Int { get }

    /// Computes the partial of every shard in `work` for parameters `p`, handing each to
    /// `accumulator`, and returns when the accumulator is complete.
    func computePartials(step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator) throws

    /// Releases workers and sockets; called once at the end of a run, successful or not.
    /// `resumable`: the run was checkpointed and may be resumed, so workers that can wait for a
    /// restarted coordinator should not be told to leave.
    func shutdown(reason: String, resumable: Bool)
}

extension GradientSource {
    public func shutdown(reason: String, resumable: Bool) {}
}

/// The reference path: every shard computed in this process, in shard order, with the same
/// arithmetic a worker uses.
public final class InProcessGradients: GradientSource {
    public let shards: [ShardData]
    private let workspace: Workspace

    public init(dataset: Dataset, plan: ShardPlan, layout: ParameterLayout) {
        shards = plan.ranges.enumerated().map { ShardData(id: $0.offset, dataset: dataset, range: $0.element) }
        workspace = Workspace(shape: layout.shape)
    }

    public var workerCount: Int { 1 }

    public func computePartials(step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator) throws {
        for item in work {
            accumulator.accumulate(shard: item.shard, examples: item.selection.count) { partial in
                shards[item.shard].computePartial(p, selection: item.selection, workspace: workspace, into: partial)
            }
        }
    }
}
