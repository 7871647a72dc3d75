/// A reducer's arithmetic for its range of the parameters (`--reducers`, issue 21): it sums the
/// pieces of its range that workers send, by the reduction tree over the run's shards, updates
/// the range by the run's optimizer as each piece completes, and hands back the new values with
/// their finiteness marks. The rule, the tree and the inputs are the coordinator's, value by
/// value, so the bits are those of one process updating everything (invariant 2).
///
/// The coordinator commits a step once every range is finite; the range's W, b and moments take
/// the new values when the coordinator begins the next step or asks for the state of this one
/// (`commit(through:)`). Until then the last committed values stay, as a checkpoint needs.
public final class RangeReducer {
    public let layout: ParameterLayout
    public let ranges: ReductionRanges
    /// Which range this reducer holds (r ≥ 1; range 0 is the coordinator's).
    public let rank: Int
    public let range: Range<Int>
    /// The pieces of the range, added by the tree.
    public let accumulator: GradientAccumulator
    public let optimizer: Optimizer
    /// W, b: only the range's values are meaningful (the buffers are whole for the optimizer's
    /// layer offsets).
    private var parameters: ParameterBuffer
    private var next: ParameterBuffer
    private var update: StepUpdate?
    /// The last committed step: `parameters` are the parameters of the step after it.
    public private(set) var committed: Int
    /// The step under way and whether its result was handed out.
    public private(set) var current: Int?
    private var handedOut = false
    /// Values of each part loaded since the assignment (`load`): W, b and each moment.
    private var loaded = [0, 0, 0]

    /// The parts of a range's state, as RANGE_STATE numbers them.
    public enum Part: Int, Sendable {
        case values = 0
        case firstMoment = 1
        case secondMoment = 2
    }

    /// A reducer of range `rank` over `shards` shards, whose optimizer has applied `updates`
    /// updates, after committed step `step`. Its values and moments come next (`load`).
    public init(
        layout: ParameterLayout, shards: Int, ranges: ReductionRanges, rank: Int, optimizer settings: OptimizerSettings,
        updates: Int, step: Int
    ) {
        precondition(rank >= 1 && rank < ranges.count, "range \(rank) of \(ranges.count) is not a reducer's")
        self.layout = layout
        self.ranges = ranges
        self.rank = rank
        range = ranges.range(rank)
        accumulator = GradientAccumulator(
            layout: layout, shards: shards, segments: ranges.pieces.map(\.range), expecting: ranges.pieces(of: rank),
            othersHandedIn: false)
        optimizer = Optimizer(settings: settings, layout: layout)
        optimizer.updates = updates
        parameters = ParameterBuffer(layout: layout)
        next = ParameterBuffer(layout: layout)
        committed = step
    }

    /// Whether the assignment's state has all come in: the range's W, b and each moment the
    /// optimizer keeps.
    public var isLoaded: Bool {
        loaded[0] == range.count && (optimizer.firstMoment == nil || loaded[1] == range.count)
            && (optimizer.secondMoment == nil || loaded[2] == range.count)
    }

    /// Takes `values` of `part` from `offset` on; false (and nothing taken) when they do not lie in
    /// the range, or the optimizer keeps no such moment.
    public func load(_ part: Part, offset: Int, values: UnsafeBufferPointer<Float>) -> Bool {
        guard let base = values.baseAddress, offset >= range.lowerBound, offset + values.count <= range.upperBound,
            let target = buffer(part)
        else { return false }
        (target.values + offset).update(from: base, count: values.count)
        loaded[part.rawValue] += values.count
        return true
    }

    /// The committed value of `part` in the range (for a checkpoint), or nil when the optimizer
    /// keeps no such moment.
    public func state(_ part: Part) -> UnsafeBufferPointer<Float>? {
        buffer(part).map { UnsafeBufferPointer(start: $0.values + range.lowerBound, count: range.count) }
    }

    private func buffer(_ part: Part) -> ParameterBuffer? {
        switch part {
        case .values: parameters
        case .firstMoment: optimizer.firstMoment
        case .secondMoment: optimizer.secondMoment
        }
    }

    /// Begins `step` (the step after the last committed one, which it commits first when its
    /// result is out): its pieces are added from now on, and each updated as soon as complete.
    /// Returns false when `step` does not follow.
    public func begin(step: Int, learningRate: Float, exampleCount: Int) -> Bool {
        commit(through: step - 1)
        guard step == committed + 1, exampleCount > 0, isLoaded else { return false }
        let update = StepUpdate(
            optimizer: optimizer, from: parameters, gradientSum: accumulator.sum, exampleCount: exampleCount,
            learningRate: learningRate, into: next)
        self.update = update
        accumulator.reset(onSegmentComplete: update.apply)
        current = step
        handedOut = false
        return true
    }

    /// Whether every piece of the range is in and updated.
    public var isComplete: Bool { current != nil && accumulator.isComplete }

    /// The range's new values and their marks, once complete; the step counts as handed out.
    public func result() -> (values: UnsafeBufferPointer<Float>, marks: UInt32)? {
        guard isComplete, let update else { return nil }
        handedOut = true
        return (UnsafeBufferPointer(start: next.values + range.lowerBound, count: range.count), update.marks)
    }

    /// The coordinator has committed `step`: when it is the step whose result went out, its
    /// values and moments take effect. A step whose marks were not all finite is never committed
    /// (the coordinator stops the run).
    public func commit(through step: Int) {
        guard let current, current <= step, handedOut, let update, optimizer.commit(marks: update.marks) else { return }
        swap(&parameters, &next)
        committed = current
        self.current = nil
        self.update = nil
    }
}
