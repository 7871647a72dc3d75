/// A stretch of the flat gradient that backprop finishes at once: what a worker sends as soon as
/// it is done, so that communication overlaps the rest of backprop.
///
/// Backprop finishes layer L first and layer 1 last, and layer 1 is usually most of the network
/// (784·256 of 784-256-128-10's 235,146 values). So a layer whose W has more than
/// `GradientSegment.blockValues` values is cut into column blocks of W — as many as keep each
/// near that size, at most `maxBlocks` — each dW block one gemm
/// (dW[:, c0..<c1] = dZ · A[l−1][c0..<c1, :]ᵀ, contiguous in the column-major layout), with b on
/// its own ahead of them; smaller layers are one segment, W and b together.
public struct GradientSegment: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        /// W[l] and b[l] together.
        case layer
        /// b[l] alone.
        case bias
        /// Columns of W[l] (inputs of the layer).
        case weightColumns(Range<Int>)
    }

    /// Values of W beyond which a layer is cut into blocks: 256 KiB of Float32, a few hundred
    /// microseconds of gemm at batch 512.
    public static let blockValues = 64 << 10
    /// Blocks per layer at most: narrower gemms lose speed (784-1024-1024-10 in blocks of 64 columns
    /// ran 6% slower than uncut, in 4 blocks 1–3%), and four already let most of a layer's
    /// sending overlap the rest of its gemms.
    public static let maxBlocks = 4

    public let layer: Int
    public let part: Part
    /// Where the segment lies in the flat buffer.
    public let range: Range<Int>
}

extension ParameterLayout {
    /// The segments in the order backprop completes them: layer L first, layer 1 last; within a
    /// cut layer, b first, then W's column blocks left to right. They partition 0..<count.
    public var segments: [GradientSegment] {
        var segments: [GradientSegment] = []
        for l in stride(from: shape.depth, through: 1, by: -1) {
            let rows = shape.layers[l], columns = shape.layers[l - 1]
            let w = weightOffsets[l], b = biasOffsets[l]
            guard rows * columns > GradientSegment.blockValues else {
                segments.append(GradientSegment(layer: l, part: .layer, range: w..<b + rows))
                continue
            }
            segments.append(GradientSegment(layer: l, part: .bias, range: b..<b + rows))
            let blocks = min(GradientSegment.maxBlocks, (rows * columns + GradientSegment.blockValues - 1) / GradientSegment.blockValues)
            let width = (columns + blocks - 1) / blocks
            for c0 in stride(from: 0, to: columns, by: width) {
                let c1 = min(c0 + width, columns)
                segments.append(GradientSegment(layer: l, part: .weightColumns(c0..<c1), range: w + c0 * rows..<w + c1 * rows))
            }
        }
        return segments
    }
}
