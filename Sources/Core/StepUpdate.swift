import Dispatch

/// One step's checked update of W, b, computed range by range as the gradient's segments
/// complete (`GradientAccumulator.reset(onSegmentComplete:)`), while the rest of the step is
/// still arriving; `Optimizer.commit(marks:)` ends it once every range is in.
final class StepUpdate {
    private let optimizer: Optimizer
    private let parameters: ParameterBuffer
    private let gradientSum: ParameterBuffer
    private let exampleCount: Int
    private let learningRate: Float
    private let next: ParameterBuffer
    /// The new values' finiteness marks, or-ed (`Finiteness`).
    private(set) var marks: UInt32 = 0
    /// Seconds spent computing the ranges.
    private(set) var elapsed = 0.0

    /// An update of `parameters` by the step's `gradientSum` over `exampleCount` examples, into
    /// `next`.
    init(
        optimizer: Optimizer, from parameters: ParameterBuffer, gradientSum: ParameterBuffer, exampleCount: Int,
        learningRate: Float, into next: ParameterBuffer
    ) {
        self.optimizer = optimizer
        self.parameters = parameters
        self.gradientSum = gradientSum
        self.exampleCount = exampleCount
        self.learningRate = learningRate
        self.next = next
    }

    /// Computes the part of the update in `range`, whose sum is complete.
    func apply(_ range: Range<Int>) {
        let started = DispatchTime.now()
        marks |= optimizer.update(
            parameters, gradientSum: gradientSum, range: range, exampleCount: exampleCount,
            learningRate: learningRate, into: next)
        elapsed += seconds(started, DispatchTime.now())
    }

    /// Takes the new values of `range`, computed by the same rule in another process (a reducer's
    /// range, `--reducers`), with their finiteness marks; nil values stay in that process.
    func take(_ range: Range<Int>, values: UnsafePointer<Float>?, marks: UInt32) {
        if let values { (next.values + range.lowerBound).update(from: values, count: range.count) }
        self.marks |= marks
    }
}
