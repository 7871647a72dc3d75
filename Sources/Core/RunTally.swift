import Dispatch

/// What a run has done so far, kept step by step, so that its summary can be written on any exit:
/// a run that is interrupted, diverges or fails reports as much as one that completes.
///
/// `finalLoss` is the mean training loss over the last epoch's steps (weighted by their examples;
/// the steps run so far when the run ends inside an epoch); `lastBatchLoss` the last step's alone.
public struct RunTally: Sendable {
    public private(set) var steps = 0
    public private(set) var examples = 0
    public private(set) var lastBatchLoss = Double.nan
    public private(set) var test: Evaluator.Result?
    private var epoch = -1
    private var epochLossSum = 0.0
    private var epochExamples = 0
    private var started: UInt64 = DispatchTime.now().uptimeNanoseconds

    public init() {}

    public var finalLoss: Double { epochExamples > 0 ? epochLossSum / Double(epochExamples) : .nan }

    public var wallSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

    mutating func start() { started = DispatchTime.now().uptimeNanoseconds }

    mutating func record(_ report: StepReport) {
        if report.epoch != epoch {
            epoch = report.epoch
            epochLossSum = 0
            epochExamples = 0
        }
        epochLossSum += report.loss * Double(report.examples)
        epochExamples += report.examples
        steps = report.step
        examples += report.examples
        lastBatchLoss = report.loss
    }

    mutating func record(_ evaluation: Evaluator.Result) { test = evaluation }

    public func summary(workers: Int) -> TrainingSummary {
        TrainingSummary(
            steps: steps, finalLoss: finalLoss, lastBatchLoss: lastBatchLoss, test: test, examples: examples,
            wallSeconds: wallSeconds, workers: workers)
    }
}
