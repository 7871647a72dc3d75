/// A stretch of the flat gradient that a worker sends as one message, as soon as backprop has
/// finished all of it, so that communication overlaps the rest of backprop.
///
/// Segments join the ranges backprop finishes (`ParameterLayout.backwardOrder`), in that order,
/// until each holds at least `minimumValues` values (or the ranges run out): a message per
/// finished range was slower, each costing both processes a wake-up. 784-256-128-10 makes three
/// segments: layers 3 and 2, b1 and W1's columns 588–783 (84,618 values); W1's columns 196–587
/// (100,352); W1's columns 0–195 (50,176), the last.
public struct GradientSegment: Sendable, Equatable {
    /// The least a segment holds, but the last: 256 KiB of Float32.
    public static let minimumValues = 64 << 10

    /// Where the segment lies in the flat buffer.
    public let range: Range<Int>
}

extension ParameterLayout {
    /// The segments in the order backprop completes them: layer L first, W1's first columns last.
    /// They partition 0..<count.
    public var segments: [GradientSegment] {
        var segments: [GradientSegment] = []
        var joined = count..<count
        for finished in backwardOrder {
            precondition(finished.upperBound == joined.lowerBound, "backprop finishes the buffer from its end")
            joined = finished.lowerBound..<joined.upperBound
            if joined.count >= GradientSegment.minimumValues {
                segments.append(GradientSegment(range: joined))
                joined = joined.lowerBound..<joined.lowerBound
            }
        }
        if !joined.isEmpty { segments.append(GradientSegment(range: joined)) }
        return segments
    }
}
