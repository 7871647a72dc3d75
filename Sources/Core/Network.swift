/// Forward and backward propagation of a dense network, vectorised over m examples.
///
/// Shapes: W[l] is (n_l, n_{l−1}), b[l] is (n_l), A[l] and Z[l] are (n_l, m) — one column per
/// example, column-major. Every product is one `cblas_sgemm` with transpose flags.
/// `ReferenceNetwork` computes the same in Float64 with plain loops.
public enum Network {
    /// Forward: A[l] = g(W[l]·A[l−1] + b[l]) for l = 1…L, with A[0] = X.
    ///
    /// X is (n0, m); labels (m), when given, yield Σ loss and the correct count. A[L] (n_L, m) is
    /// left in `workspace.output`.
    @discardableResult
    public static func forward(
        _ p: ParameterBuffer, input x: UnsafePointer<Float>, count m: Int,
        labels: UnsafePointer<Int32>?, workspace ws: Workspace
    ) -> OutputLayer.Evaluation {
        let shape = p.layout.shape
        let n = shape.layers
        guard m > 0 else { return OutputLayer.Evaluation() }
        ws.reserve(m)
        var aPrev = x
        for l in 1...shape.depth {
            let a = ws.activations[l]
            // Z[l] (n_l, m) = W[l] (n_l, n_{l−1}) · A[l−1] (n_{l−1}, m)
            BLAS.gemm(
                .none, .none, m: n[l], n: m, k: n[l - 1],
                a: p.weight(l), lda: n[l], b: aPrev, ldb: n[l - 1], c: a, ldc: n[l])
            if l < shape.depth {
                shape.activation.addBiasAndActivate(a, rows: n[l], cols: m, bias: p.bias(l))
            } else {
                return shape.output.addBiasAndActivate(a, rows: n[l], cols: m, bias: p.bias(l), labels: labels)
            }
            aPrev = UnsafePointer(a)
        }
        preconditionFailure("a network has at least one layer")
    }

    /// Backward, after `forward` on the same X and labels: the Σ over the m examples of dW, db.
    ///
    /// X is (n0, m), labels (m); `grad` is in `p`'s layout. These are the formulas' dW, db times
    /// m: the caller divides by the total example count, so sums from any number of shards add up
    /// to the exact mean. Overwrites the workspace's A[l] with dZ[l].
    ///
    /// `onFinished` hears each range of `grad` as soon as its values are final, in the order
    /// `ParameterLayout.backwardOrder` lists them: b[l], then dW[l]'s column blocks right to left.
    public static func backward(
        _ p: ParameterBuffer, input x: UnsafePointer<Float>, count m: Int,
        labels: UnsafePointer<Int32>, workspace ws: Workspace, into grad: ParameterBuffer,
        onFinished: (Range<Int>) -> Void = { _ in }
    ) {
        let layout = p.layout
        let n = layout.shape.layers
        let depth = layout.shape.depth
        // dZ[L] (n_L, m) = A[L] − Y
        layout.shape.output.subtractTargets(ws.activations[depth], rows: n[depth], cols: m, labels: labels)
        for l in stride(from: depth, through: 1, by: -1) {
            let dZ = UnsafePointer(ws.activations[l])
            let aPrev = l == 1 ? x : UnsafePointer(ws.activations[l - 1])
            // b[l] lies after W[l] in the buffer, which backprop finishes from its end: db first.
            biasGradient(dZ, rows: n[l], cols: m, into: grad.bias(l))
            onFinished(layout.biasOffsets[l]..<layout.biasOffsets[l] + n[l])
            weightGradient(
                dZ, aPrev, layer: l, count: m, blocks: ws.columnBlocks[l], into: grad, onFinished: onFinished)
            guard l > 1 else { break }
            let dA = ws.scratch!
            // dA[l−1] (n_{l−1}, m) = W[l]ᵀ (n_{l−1}, n_l) · dZ[l] (n_l, m)
            BLAS.gemm(
                .transposed, .none, m: n[l - 1], n: m, k: n[l],
                a: p.weight(l), lda: n[l], b: dZ, ldb: n[l], c: dA, ldc: n[l - 1])
            // dZ[l−1] = dA[l−1] ⊙ g′(Z[l−1]), g′ read from A[l−1], which dZ[l−1] replaces.
            layout.shape.activation.multiplyDerivative(
                intoOutput: ws.activations[l - 1], gradient: dA, count: n[l - 1] * m)
        }
    }

    /// Forward then backward: Σ dW, Σ db into `grad`, and the batch's Σ loss and correct count.
    ///
    /// `onSegment` hears each segment's index (`ParameterLayout.segments`) with the batch's
    /// evaluation as soon as the segment's values in `grad` are final — before backprop moves on —
    /// segments in order.
    @discardableResult
    public static func gradientSum(
        _ p: ParameterBuffer, input x: UnsafePointer<Float>, count m: Int,
        labels: UnsafePointer<Int32>, workspace ws: Workspace, into grad: ParameterBuffer,
        onSegment: (Int, OutputLayer.Evaluation) -> Void = { _, _ in }
    ) -> OutputLayer.Evaluation {
        guard m > 0 else {
            grad.fill(0)
            for segment in ws.segments.indices { onSegment(segment, OutputLayer.Evaluation()) }
            return OutputLayer.Evaluation()
        }
        let evaluation = forward(p, input: x, count: m, labels: labels, workspace: ws)
        var segments = SegmentTracker(segments: ws.segments, count: grad.count)
        backward(p, input: x, count: m, labels: labels, workspace: ws, into: grad) { range in
            segments.finished(range) { onSegment($0, evaluation) }
        }
        return evaluation
    }

    /// dW[l] (n_l, n_{l−1}) = dZ[l] (n_l, m) · A[l−1]ᵀ (m, n_{l−1}), one gemm per column block,
    /// each reported to `onFinished` once done. The block c0..<c1 is
    /// dW[l][:, c0..<c1] = dZ[l] · A[l−1][c0..<c1, :]ᵀ: the rows c0..<c1 of A[l−1] start at
    /// `aPrev + c0` with its full leading dimension, and dW's columns c0..<c1 are contiguous.
    private static func weightGradient(
        _ dZ: UnsafePointer<Float>, _ aPrev: UnsafePointer<Float>, layer l: Int, count m: Int,
        blocks: [Range<Int>], into grad: ParameterBuffer, onFinished: (Range<Int>) -> Void
    ) {
        let n = grad.layout.shape.layers
        let w = grad.layout.weightOffsets[l]
        for columns in blocks {
            BLAS.gemm(
                .none, .transposed, m: n[l], n: columns.count, k: m,
                a: dZ, lda: n[l], b: aPrev + columns.lowerBound, ldb: n[l - 1],
                c: grad.weight(l) + columns.lowerBound * n[l], ldc: n[l])
            onFinished(w + columns.lowerBound * n[l]..<w + columns.upperBound * n[l])
        }
    }

    /// db[l] (n_l) = Σ_j dZ[l][:, j], column after column so the additions run over contiguous
    /// memory.
    @inline(__always)
    private static func biasGradient(
        _ dZ: UnsafePointer<Float>, rows n: Int, cols m: Int, into db: UnsafeMutablePointer<Float>
    ) {
        db.update(repeating: 0, count: n)
        for j in 0..<m {
            let col = dZ + j * n
            for i in 0..<n { db[i] += col[i] }
        }
    }
}
