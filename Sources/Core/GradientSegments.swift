/// A stretch of the flat gradient that backprop finishes at once: what a worker sends as soon as
/// it is done, so that communication overlaps the rest of backprop.
///
/// Backprop finishes layer L first and layer 1 last, and layer 1 is usually most of the network
/// (784·256 of 784-256-128-10's 235,146 values). So a layer whose W has more than
/// `GradientSegment.blockValues` values is cut into column blocks of W — as many as keep each
/// near that size, at most `maxBlocks` — each dW block one gemm
/// (dW[:, c0..<c1] = dZ · A[l−1][c0..<c1, :]ᵀ, contiguous in the column-major layout); b of a cut
/// layer is a piece of its own, ahead of its blocks, and a smaller layer is one piece, W and b.
///
/// Backprop makes the pieces in the order they lie in the flat buffer, backwards: layer L's last,
/// then down to W1's first columns (a cut layer's blocks go right to left). So consecutive
/// pieces always join into one contiguous stretch, and a segment is pieces joined until it holds
/// at least `blockValues` values (or the pieces run out). Each message then carries enough to be
/// worth the wake-ups it costs both processes (a message per piece was slower: docs/PERFORMANCE.md,
/// the sixth round). 784-256-128-10's seven pieces make three segments: layers 3 and 2, b1 and
/// W1's columns 588–783 (84,618 values); W1's columns 196–587 (100,352); W1's columns 0–195
/// (50,176), the last.
public struct GradientSegment: Sendable, Equatable {
    /// What one piece of backprop computes.
    public enum Part: Sendable, Equatable {
        /// W[l] and b[l] together.
        case layer
        /// b[l] alone.
        case bias
        /// Columns of W[l] (inputs of the layer).
        case weightColumns(Range<Int>)
    }

    public struct Piece: Sendable, Equatable {
        public let layer: Int
        public let part: Part
    }

    /// Values of W beyond which a layer is cut into blocks, and the least a segment holds before
    /// it is sent (but the last): 256 KiB of Float32, a few hundred microseconds of gemm at batch 512.
    public static let blockValues = 64 << 10
    /// Blocks per layer at most: narrower gemms lose speed (784-1024-1024-10 in blocks of 64 columns
    /// ran 6% slower than uncut, in 4 blocks 1–3%), and four already let most of a layer's
    /// sending overlap the rest of its gemms.
    public static let maxBlocks = 4

    /// The pieces, in the order backprop computes them (layers descending).
    public let pieces: [Piece]
    /// Where the segment lies in the flat buffer.
    public let range: Range<Int>
}

extension ParameterLayout {
    /// The segments in the order backprop completes them: layer L first, W1's first columns last.
    /// They partition 0..<count.
    public var segments: [GradientSegment] {
        var pieces: [(GradientSegment.Piece, Range<Int>)] = []
        for l in stride(from: shape.depth, through: 1, by: -1) {
            let rows = shape.layers[l], columns = shape.layers[l - 1]
            let w = weightOffsets[l], b = biasOffsets[l]
            guard rows * columns > GradientSegment.blockValues else {
                pieces.append((.init(layer: l, part: .layer), w..<b + rows))
                continue
            }
            pieces.append((.init(layer: l, part: .bias), b..<b + rows))
            let blocks = min(GradientSegment.maxBlocks, (rows * columns + GradientSegment.blockValues - 1) / GradientSegment.blockValues)
            let width = (columns + blocks - 1) / blocks
            for c0 in stride(from: 0, to: columns, by: width).reversed() {
                let c1 = min(c0 + width, columns)
                pieces.append((.init(layer: l, part: .weightColumns(c0..<c1)), w + c0 * rows..<w + c1 * rows))
            }
        }
        var segments: [GradientSegment] = []
        var joined: [GradientSegment.Piece] = []
        var range = count..<count
        for (piece, stretch) in pieces {
            precondition(stretch.upperBound == range.lowerBound, "pieces lie backwards in the buffer")
            joined.append(piece)
            range = stretch.lowerBound..<range.upperBound
            if range.count >= GradientSegment.blockValues {
                segments.append(GradientSegment(pieces: joined, range: range))
                joined = []
                range = range.lowerBound..<range.lowerBound
            }
        }
        if !joined.isEmpty { segments.append(GradientSegment(pieces: joined, range: range)) }
        return segments
    }
}
