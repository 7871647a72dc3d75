/// Forward and backward propagation of a dense network, vectorised over m examples.
///
/// Shapes: W[l] is (n_l, n_{l−1}), b[l] is (n_l), A[l] and Z[l] are (n_l, m) — one column per
/// example, column-major. Every product is one `cblas_sgemm` with transpose flags.
public enum Network {
    /// Forward: A[l] = g(W[l]·A[l−1] + b[l]) for l = 1…L, with A[0] = X.
    ///
    /// X is (n0, m); labels (m), when given, yield Σ loss and the correct count. A[L] is left in
    /// `workspace.output`.
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
    /// dZ[L] = A[L] − Y; dW[l] = dZ[l]·A[l−1]ᵀ; db[l] = row sums of dZ[l];
    /// dA[l−1] = W[l]ᵀ·dZ[l]; dZ[l−1] = dA[l−1] ⊙ g′(Z[l−1]).
    /// These are the formulas' dW, db times m: the caller divides by the total example count, so
    /// sums from any number of shards add up to the exact mean. Overwrites the workspace's A[l].
    ///
    /// dW[l] is computed piece by piece (`ParameterLayout.segments`: a large W in column blocks),
    /// the same way in every process, and `onSegment` hears each segment's index as soon as its
    /// last piece is done and its values in `grad` are final — before backprop moves on.
    public static func backward(
        _ p: ParameterBuffer, input x: UnsafePointer<Float>, count m: Int,
        labels: UnsafePointer<Int32>, workspace ws: Workspace, into grad: ParameterBuffer,
        onSegment: ((Int) -> Void)? = nil
    ) {
        let shape = p.layout.shape
        let n = shape.layers
        let depth = shape.depth
        let segments = ws.segments
        shape.output.subtractTargets(ws.activations[depth], rows: n[depth], cols: m, labels: labels)
        // dZ[l] is in ws.activations[l] for the layer l the pieces have come down to.
        var l = depth
        for (s, segment) in segments.enumerated() {
            for piece in segment.pieces {
                while l > piece.layer {
                    let dA = ws.scratch!
                    // dA[l−1] (n_{l−1}, m) = W[l]ᵀ (n_{l−1}, n_l) · dZ[l] (n_l, m)
                    BLAS.gemm(
                        .transposed, .none, m: n[l - 1], n: m, k: n[l],
                        a: p.weight(l), lda: n[l], b: ws.activations[l], ldb: n[l], c: dA, ldc: n[l - 1])
                    shape.activation.multiplyDerivative(intoOutput: ws.activations[l - 1], gradient: dA, count: n[l - 1] * m)
                    l -= 1
                }
                let dZ = ws.activations[l]
                let aPrev = l == 1 ? x : UnsafePointer(ws.activations[l - 1])
                switch piece.part {
                case .layer:
                    weightGradient(dZ, aPrev, columns: 0..<n[l - 1], layer: l, n: n, m: m, into: grad)
                    sumRows(dZ, rows: n[l], cols: m, into: grad.bias(l))
                case .bias:
                    sumRows(dZ, rows: n[l], cols: m, into: grad.bias(l))
                case .weightColumns(let columns):
                    weightGradient(dZ, aPrev, columns: columns, layer: l, n: n, m: m, into: grad)
                }
            }
            onSegment?(s)
        }
    }

    /// dW[l][:, c0..<c1] (n_l, c1 − c0) = dZ[l] (n_l, m) · A[l−1][c0..<c1, :]ᵀ (m, c1 − c0): the
    /// rows c0..<c1 of A[l−1] start at `aPrev + c0` with its full leading dimension.
    @inline(__always)
    private static func weightGradient(
        _ dZ: UnsafePointer<Float>, _ aPrev: UnsafePointer<Float>, columns: Range<Int>, layer l: Int, n: [Int], m: Int,
        into grad: ParameterBuffer
    ) {
        BLAS.gemm(
            .none, .transposed, m: n[l], n: columns.count, k: m,
            a: dZ, lda: n[l], b: aPrev + columns.lowerBound, ldb: n[l - 1],
            c: grad.weight(l) + columns.lowerBound * n[l], ldc: n[l])
    }

    /// Forward then backward: Σ dW, Σ db into `grad`, and the batch's Σ loss and correct count.
    /// `onSegment` hears each finished segment (see `backward`) with the batch's evaluation.
    @discardableResult
    public static func gradientSum(
        _ p: ParameterBuffer, input x: UnsafePointer<Float>, count m: Int,
        labels: UnsafePointer<Int32>, workspace ws: Workspace, into grad: ParameterBuffer,
        onSegment: ((Int, OutputLayer.Evaluation) -> Void)? = nil
    ) -> OutputLayer.Evaluation {
        guard m > 0 else {
            grad.fill(0)
            for segment in ws.segments.indices { onSegment?(segment, OutputLayer.Evaluation()) }
            return OutputLayer.Evaluation()
        }
        let evaluation = forward(p, input: x, count: m, labels: labels, workspace: ws)
        backward(p, input: x, count: m, labels: labels, workspace: ws, into: grad, onSegment: onSegment.map { report in
            { segment in report(segment, evaluation) }
        })
        return evaluation
    }

    /// db = Σ_j dZ[:, j], column after column so the additions run over contiguous memory.
    @inline(__always)
    private static func sumRows(_ dZ: UnsafePointer<Float>, rows n: Int, cols m: Int, into db: UnsafeMutablePointer<Float>) {
        db.update(repeating: 0, count: n)
        for j in 0..<m {
            let col = dZ + j * n
            for i in 0..<n { db[i] += col[i] }
        }
    }
}
