/// Hears the ranges of the flat gradient that backprop finishes and tells when each segment is
/// complete: its index, as soon as every value in its range is final, segments in order.
///
/// Backprop finishes the buffer from its end (`ParameterLayout.backwardOrder`), so what is final
/// is always one stretch from some offset to the end, and a segment is complete once that offset
/// reaches its start.
struct SegmentTracker {
    /// The segments' ranges, in the order backprop completes them (`ParameterLayout.segments`).
    private let segments: [Range<Int>]
    /// The next segment to complete.
    private var next = 0
    /// Every value from here to the end of the buffer is final.
    private var finalFrom: Int

    /// - Parameter count: the values in the buffer (`ParameterLayout.count`).
    init(segments: [Range<Int>], count: Int) {
        self.segments = segments
        finalFrom = count
    }

    /// `range` is final; `complete` hears each segment that is complete with it.
    mutating func finished(_ range: Range<Int>, complete: (Int) -> Void) {
        precondition(range.upperBound == finalFrom, "backprop finishes the buffer from its end")
        finalFrom = range.lowerBound
        while next < segments.count, segments[next].lowerBound >= finalFrom {
            complete(next)
            next += 1
        }
    }
}
