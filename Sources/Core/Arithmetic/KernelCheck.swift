/// Before the first step, a process checks the kernel it computes with: the three gemms backprop
/// runs at each layer's shape, against a Float64 reference. A kernel that miscomputes on this CPU
/// (old OpenBLAS builds do on some) is refused by name instead of training on wrong numbers.
public enum KernelCheck {
    /// A gemm's result may differ from the exact one by k·u·Σ|a||b| (Higham, *Accuracy and
    /// Stability of Numerical Algorithms*, §3.5); twice that leaves room for the order of addition.
    static func bound(k: Int, magnitude: Double) -> Double { 2 * Double(k) * 0x1p-24 * magnitude + 1e-30 }

    /// C (m, n) = op(A) · op(B), column-major, as `BLAS.gemm` computes it.
    public typealias Multiply = (
        _ ta: Transpose, _ tb: Transpose, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float]
    ) -> [Float]

    /// Checks every layer of `shape` with up to `columns` examples: at most 23, an odd count so
    /// that the kernel's edge tiles are exercised too, and fewer for wide layers, so the check
    /// takes tens of milliseconds; throws naming `kernel` and the first gemm out of bounds.
    /// `multiply` is the gemm under test: OpenBLAS's, or in tests one that is wrong on purpose.
    public static func verify(
        shape: NetworkShape, columns: Int, kernel: String, multiply: Multiply = KernelCheck.blas
    ) throws {
        var random = SplitMix64(seed: 0x6b65_726e_656c)
        for l in 1...shape.depth {
            let (n, p) = (shape.layers[l], shape.layers[l - 1])
            let c = max(1, min(columns, 23, max(8, 8_000_000 / max(n * p, 1))))
            let w = (0..<(n * p)).map { _ in Float.random(in: -1...1, using: &random) }
            let a = (0..<(p * c)).map { _ in Float.random(in: -1...1, using: &random) }
            let dz = (0..<(n * c)).map { _ in Float.random(in: -1...1, using: &random) }
            let forms: [(String, Transpose, Transpose, [Float], [Float], Int, Int, Int)] = [
                ("W·A", .none, .none, w, a, n, c, p),
                ("dZ·Aᵀ", .none, .transposed, dz, a, n, p, c),
                ("Wᵀ·dZ", .transposed, .none, w, dz, p, c, n),
            ]
            for (name, ta, tb, x, y, m, cols, k) in forms {
                if let error = check(ta, tb, x, y, m: m, n: cols, k: k, multiply: multiply) {
                    throw ConfigurationError.invalid(
                        field: "BLAS kernel \(kernel)",
                        reason: "its gemm \(name) of layer \(l) (\(m)×\(k) by \(k)×\(cols)) is wrong by \(error)")
                }
            }
        }
    }

    /// nil when C = op(X)·op(Y) is within the bound everywhere; otherwise the worst excess.
    static func check(
        _ ta: Transpose, _ tb: Transpose, _ x: [Float], _ y: [Float], m: Int, n: Int, k: Int, multiply: Multiply
    ) -> String? {
        let lda = ta == .none ? m : k
        let ldb = tb == .none ? k : n
        let c = multiply(ta, tb, m, n, k, x, y)
        for j in 0..<n {
            for i in 0..<m {
                var exact = 0.0
                var magnitude = 0.0
                for t in 0..<k {
                    let u = Double(ta == .none ? x[i + t * lda] : x[t + i * lda])
                    let v = Double(tb == .none ? y[t + j * ldb] : y[j + t * ldb])
                    exact += u * v
                    magnitude += abs(u * v)
                }
                let error = abs(Double(c[i + j * m]) - exact)
                if !(error <= bound(k: k, magnitude: magnitude)) {
                    return "\(error) at (\(i), \(j)), against a bound of \(bound(k: k, magnitude: magnitude))"
                }
            }
        }
        return nil
    }

    /// OpenBLAS's sgemm, on packed operands.
    public static func blas(
        _ ta: Transpose, _ tb: Transpose, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float]
    ) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        BLAS.gemm(
            ta, tb, m: m, n: n, k: k, a: a, lda: ta == .none ? m : k, b: b, ldb: tb == .none ? k : n, c: &c, ldc: m)
        return c
    }
}
