import CBLAS

/// Whether a gemm operand is used as stored or transposed (BLAS does the transpose while packing).
public enum Transpose: Sendable {
    case none
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Thin, column-major entry points to OpenBLAS.
public enum BLAS {
    /// C (m, n) = alpha · op(A) · op(B) + beta · C, all column-major.
    ///
    /// op(A) is (m, k) and op(B) is (k, n); `lda`, `ldb`, `ldc` are the stored leading dimensions.
    @inline(__always)
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasColMajor, transA.cblas, transB.cblas,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }

    /// Pins OpenBLAS to `threads` threads for this process.
    ///
    /// Results never depend on it (OpenBLAS splits gemm over rows and columns of C, not over k),
    /// but pinning keeps workers from oversubscribing the cores they share.
    public static func setThreads(_ threads: Int) {
        openblas_set_num_threads(Int32(max(1, threads)))
    }
}

extension Matrix {
    /// C = op(A) · op(B), the matrices' own shapes and leading dimensions.
    public static func multiply(
        _ a: Matrix, _ transA: Transpose = .none,
        _ b: Matrix, _ transB: Transpose = .none,
        into c: Matrix
    ) {
        let (m, k) = transA == .none ? (a.rows, a.cols) : (a.cols, a.rows)
        let (kb, n) = transB == .none ? (b.rows, b.cols) : (b.cols, b.rows)
        precondition(k == kb && c.rows == m && c.cols == n, "shape mismatch in multiply")
        BLAS.gemm(
            transA, transB, m: m, n: n, k: k,
            a: a.storage, lda: max(a.rows, 1), b: b.storage, ldb: max(b.rows, 1),
            c: c.storage, ldc: max(c.rows, 1))
    }
}
