/// The column blocks dW[l] is computed in, and the order in which `Network.backward` finishes the
/// flat buffer.
///
/// Backprop finishes layer L first and layer 1 last, and layer 1 is usually most of the network
/// (784·256 of 784-256-128-10's 235,146 values). Cutting a large dW into column blocks — each one
/// gemm, dW[:, c0..<c1] = dZ · A[l−1][c0..<c1, :]ᵀ, contiguous in the column-major layout — lets
/// the blocks finished first leave while the rest are computed.
extension ParameterLayout {
    /// Values of W beyond which dW is cut into column blocks: 256 KiB of Float32, a few hundred
    /// microseconds of gemm at batch 512.
    public static let blockValues = 64 << 10
    /// Blocks per layer at most: narrower gemms lose speed, and four already let most of a
    /// layer's gradient leave while the rest of its gemms run.
    public static let maxBlocks = 4

    /// The columns of W[l] that each of dW[l]'s gemms covers, right to left: all n_{l−1} at once
    /// for a W of at most `blockValues` values, else as many equal blocks as keep each near that
    /// size, at most `maxBlocks`.
    public func columnBlocks(layer l: Int) -> [Range<Int>] {
        let rows = shape.layers[l]
        let columns = shape.layers[l - 1]
        guard rows * columns > Self.blockValues else { return [0..<columns] }
        let blocks = min(Self.maxBlocks, (rows * columns + Self.blockValues - 1) / Self.blockValues)
        let width = (columns + blocks - 1) / blocks
        return stride(from: 0, to: columns, by: width).reversed().map { $0..<min($0 + width, columns) }
    }

    /// The ranges of the flat buffer that `Network.backward` finishes, in the order it finishes
    /// them: for l = L…1, b[l], then W[l]'s column blocks right to left. Each starts where the one
    /// before it ends, so together they cover 0..<count from its end.
    public var backwardOrder: [Range<Int>] {
        var ranges: [Range<Int>] = []
        for l in stride(from: shape.depth, through: 1, by: -1) {
            let rows = shape.layers[l]
            ranges.append(biasOffsets[l]..<biasOffsets[l] + rows)
            let w = weightOffsets[l]
            for columns in columnBlocks(layer: l) {
                ranges.append(w + columns.lowerBound * rows..<w + columns.upperBound * rows)
            }
        }
        return ranges
    }
}
