/// Everything that decides a run's numbers. Two runs with equal options, data and shard count
/// produce the same bits, whatever processes compute them.
public struct TrainingOptions: Sendable, Equatable {
    public var shape: NetworkShape
    public var optimizer = OptimizerSettings()
    public var learningRate: Float = 0.1
    public var schedule: LearningRateSchedule = .constant
    /// Global examples per step; 0 = full batch.
    public var batch = 128
    public var epochs = 5
    /// When set, the run stops after this many steps instead of `epochs` passes.
    public var steps: Int?
    public var seed: UInt64 = 1
    public var shards = 1

    public init(shape: NetworkShape) { self.shape = shape }
}

/// What one step did, as the metrics file records it.
public struct StepReport: Sendable {
    /// 1-based: the number of updates applied so far.
    public let step: Int
    /// 1-based epoch the step belongs to.
    public let epoch: Int
    /// Mean loss over the step's examples, before the update.
    public let loss: Double
    /// Share of the step's examples classified correctly, before the update.
    public let accuracy: Double
    public let examples: Int
    public let workers: Int
    public let learningRate: Float
    public let examplesPerSecond: Double
    public let timings: StepTimings
}

/// Where a step's wall time went, in seconds. Sources fill in what they can measure.
public struct StepTimings: Sendable, Equatable {
    /// Forward and backward, summed over the partials (workers report theirs; they overlap in time).
    public var compute = 0.0
    /// The longest of the partials' forward and backward: the slowest worker's, when each worker
    /// computes one shard. What a step takes beyond it is communication and coordination that no
    /// computation hides; the slowest less the mean is load imbalance.
    public var computeSlowest = 0.0
    /// Sending parameters and work.
    public var send = 0.0
    /// Waiting for partials beyond the local compute.
    public var wait = 0.0
    /// Adding partials by the reduction tree.
    public var reduce = 0.0
    /// The optimizer.
    public var update = 0.0
    /// The whole step.
    public var total = 0.0
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Examples each worker computed in this step, by rank; rank −1 is the coordinator itself
    /// (a shard it recomputed to overrule a bad partial).
    public var examplesByWorker: [Int: Int] = [:]
    /// With `--reducers S`: the bytes of gradient pieces each range's reducer received in this
    /// step, range 0 (the coordinator's) first; empty without reducers.
    public var reducerBytesReceived: [Int] = []
    /// Workers lost since the run began.
    public var lostWorkers = 0
    /// Shards moved to a faster worker since the run began (placement by measured speed).
    public var shardMoves = 0
    /// Shards the coordinator computed because their partials were late, since the run began.
    public var backups = 0
    /// Messages dropped since the run began: undecodable, from strangers, stale or implausible.
    public var rejectedMessages = 0

    public init() {}
}

/// An evaluation on the test set.
public struct EvaluationReport: Sendable {
    public let step: Int
    public let epoch: Int
    public let result: Evaluator.Result
    /// Seconds from the run's start to the evaluation's end, on the summary's `wall_s` clock: when
    /// the run reached `result`'s accuracy.
    public let wallSeconds: Double
}

/// The run as a whole, for the summary line.
public struct TrainingSummary: Sendable {
    public let steps: Int
    /// The mean training loss over the last epoch's steps (see `RunTally`).
    public let finalLoss: Double
    /// The last step's training loss alone.
    public let lastBatchLoss: Double
    public let test: Evaluator.Result?
    public let examples: Int
    public let wallSeconds: Double
    public let workers: Int
    public var examplesPerSecond: Double { wallSeconds > 0 ? Double(examples) / wallSeconds : 0 }
}

/// Why a run could not go on.
public enum TrainingError: Error, CustomStringConvertible {
    case diverged(step: Int, loss: Double)
    case incompleteStep(step: Int, expected: Int, got: Int)

    public var description: String {
        switch self {
        case .diverged(let step, let loss):
            return
                "training diverged at step \(step) (loss \(loss); the gradient or the update is not finite); lower --lr, or give --standardize if the features are not scaled. The parameters before this step were kept."
        case .incompleteStep(let step, let expected, let got):
            return "step \(step) covered \(got) examples instead of \(expected)"
        }
    }
}
