import Dispatch

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Where a step's partials come from: this process (`InProcessGradients`) or a pool of workers.
public protocol GradientSource: AnyObject {
    /// Processes computing partials right now (1 in-process).
    var workerCount: Int { get }

    /// Computes the partial of every shard in `work` for parameters `p`, handing each to
    /// `accumulator`, and returns when the accumulator is complete.
    func computePartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator) throws

    /// Hands the step to whoever computes it, so that it runs while the trainer still reports
    /// the step before; `computePartials` with the same step then waits for it. The default
    /// does nothing, and `computePartials` does all.
    func beginPartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator) throws

    /// Releases workers and sockets; called once at the end of a run, successful or not.
    /// `resumable`: the run was checkpointed and may be resumed, so workers that can wait for a
    /// restarted coordinator should not be told to leave.
    func shutdown(reason: String, resumable: Bool)

    /// Workers admitted under `--allow-mixed-arithmetic` that do not compute as the run does;
    /// empty while the run is bit-reproducible.
    var mixedArithmetic: [String] { get }

    /// How a step's gradient is cut into ranges (`--reducers`) and which of them this process sums
    /// and updates itself; the others' new values are handed to the accumulator
    /// (`GradientAccumulator.takeReduced`). nil: all of it here.
    var reduction: (ranges: ReductionRanges, local: Set<Int>)? { get }

    /// The update of `step`, announced before `beginPartials`: its learning rate and example
    /// count, and the optimizer whose state the reducers hold part of, for a source whose reducers
    /// update ranges of the parameters. The default ignores it.
    func prepareUpdate(step: Int, learningRate: Float, exampleCount: Int, optimizer: Optimizer) throws

    /// Brings what other processes hold of the optimizer's state (the reducers' moments of their
    /// ranges) into `optimizer`, as it stands after the committed `step`, for a checkpoint; throws
    /// when it cannot (a reducer is gone). The default has nothing to bring.
    func gatherOptimizerState(into optimizer: Optimizer, step: Int) throws

    /// Brings the W, b that other processes updated and did not send back (reducers that send the
    /// workers their ranges themselves) into `parameters`, as they stand after the committed
    /// `step`: before an evaluation, a checkpoint or the model is written. Throws when it cannot
    /// (a reducer is gone). The default has nothing to bring.
    func gatherParameters(into parameters: ParameterBuffer, step: Int) throws
}

extension GradientSource {
    public func beginPartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {}

    public func shutdown(reason: String, resumable: Bool) {}

    public var mixedArithmetic: [String] { [] }

    public var reduction: (ranges: ReductionRanges, local: Set<Int>)? { nil }

    public func prepareUpdate(step: Int, learningRate: Float, exampleCount: Int, optimizer: Optimizer) throws {}

    public func gatherOptimizerState(into optimizer: Optimizer, step: Int) throws {}

    public func gatherParameters(into parameters: ParameterBuffer, step: Int) throws {}
}

/// The reference path: every shard computed in this process, with the same arithmetic a worker
/// uses, and added by the reduction tree.
///
/// With `threads` T > 1 and a step that touches more than one shard, T threads compute the shards'
/// partials side by side (thread t takes shards t, t + T, …, each gemm single-threaded), and the
/// partials are then added by the tree: the bits of one thread computing the same shards.
public final class InProcessGradients: GradientSource, @unchecked Sendable {
    public let shards: [ShardData]
    public let threads: Int
    private let layout: ParameterLayout
    private let workspaces: [Workspace]
    /// One buffer per shard for the parallel path, allocated on first use.
    private var partials: [ParameterBuffer?]
    private var evaluations: [OutputLayer.Evaluation]

    public init(dataset: Dataset, plan: ShardPlan, layout: ParameterLayout, threads: Int = 1) {
        precondition(threads >= 1, "at least one thread")
        shards = plan.ranges.enumerated().map { ShardData(id: $0.offset, dataset: dataset, range: $0.element) }
        self.layout = layout
        self.threads = threads
        workspaces = (0..<threads).map { _ in Workspace(shape: layout.shape) }
        partials = Array(repeating: nil, count: plan.shardCount)
        evaluations = Array(repeating: OutputLayer.Evaluation(), count: plan.shardCount)
    }

    public var workerCount: Int { 1 }

    /// Whether steps over several shards run them on several threads: the caller then keeps BLAS
    /// to one thread per call.
    public var computesShardsInParallel: Bool { threads > 1 && shards.count > 1 }

    public func computePartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        guard computesShardsInParallel, work.count > 1 else {
            for item in work {
                accumulator.accumulate(shard: item.shard, examples: item.selection.count) { partial in
                    shards[item.shard].computePartial(
                        p, selection: item.selection, workspace: workspaces[0], into: partial)
                }
            }
            return
        }
        for item in work where partials[item.shard] == nil { partials[item.shard] = ParameterBuffer(layout: layout) }
        let lanes = min(threads, work.count)
        partials.withUnsafeBufferPointer { buffers in
            evaluations.withUnsafeMutableBufferPointer { results in
                let (buffers, results) = (UnsafeSendable(buffers), UnsafeSendable(results))
                DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                    for index in stride(from: lane, to: work.count, by: lanes) {
                        let item = work[index]
                        results.value[item.shard] = shards[item.shard].computePartial(
                            p, selection: item.selection, workspace: workspaces[lane], into: buffers.value[item.shard]!)
                    }
                }
            }
        }
        // The accumulator adds them by the tree, whatever order they come in.
        for item in work {
            let evaluation = evaluations[item.shard]
            accumulator.add(
                shard: item.shard, gradients: partials[item.shard]!.values, examples: item.selection.count,
                correct: evaluation.correct, lossSum: evaluation.lossSum)
        }
    }
}

/// A value handed to `concurrentPerform`'s lanes, each of which touches its own elements only.
private struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
