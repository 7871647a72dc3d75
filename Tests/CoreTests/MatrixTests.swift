import Testing

@testable import Core

/// The shape of a product op(A)·op(B) = (m, k)·(k, n).
struct GemmShape: Sendable, CustomTestStringConvertible {
    let m: Int, k: Int, n: Int
    var testDescription: String { "\(m)×\(k)·\(k)×\(n)" }
}

/// 1×1, odd sizes, sizes past BLAS's blocking, and an empty inner dimension.
private let productShapes = [
    GemmShape(m: 1, k: 1, n: 1), GemmShape(m: 7, k: 3, n: 5), GemmShape(m: 1, k: 9, n: 1),
    GemmShape(m: 9, k: 1, n: 4), GemmShape(m: 33, k: 17, n: 65), GemmShape(m: 64, k: 64, n: 64),
    GemmShape(m: 70, k: 129, n: 3), GemmShape(m: 3, k: 0, n: 4),
]

/// Whether each operand is used as stored or transposed.
struct GemmOperands: Sendable, CustomTestStringConvertible {
    let a: Transpose, b: Transpose
    var testDescription: String { "\(a == .none ? "A" : "Aᵀ")·\(b == .none ? "B" : "Bᵀ")" }
}

private let operandForms = [
    GemmOperands(a: .none, b: .none), GemmOperands(a: .none, b: .transposed),
    GemmOperands(a: .transposed, b: .none), GemmOperands(a: .transposed, b: .transposed),
]

/// A matrix of uniform values in [−1, 1) stored as `rows × cols`.
private func randomMatrix(rows: Int, cols: Int, rng: inout Xoshiro256) -> Matrix {
    Matrix(rows: rows, cols: cols, columnMajor: (0..<rows * cols).map { _ in Float(rng.nextUnit() * 2 - 1) })
}

@Suite struct MatrixTests {
    /// BLAS agrees with the Float64 naive product to the rounding bound of a k-term Float32 sum:
    /// |Δ_ij| ≤ (k + 1)·ε·Σ_p |a_ip·b_pj| (Higham, *Accuracy and Stability*, §3.5).
    @Test(arguments: operandForms, productShapes)
    func blasMatchesNaiveMultiply(operands: GemmOperands, shape: GemmShape) {
        let (transA, transB) = (operands.a, operands.b)
        let (m, k, n) = (shape.m, shape.k, shape.n)
        var rng = Xoshiro256(seed: UInt64(m * 10_000 + k * 100 + n))
        let a = transA == .none ? randomMatrix(rows: m, cols: k, rng: &rng) : randomMatrix(rows: k, cols: m, rng: &rng)
        let b = transB == .none ? randomMatrix(rows: k, cols: n, rng: &rng) : randomMatrix(rows: n, cols: k, rng: &rng)
        let c = Matrix(rows: m, cols: n)
        c.fill(.nan) // beta = 0: whatever C held must be overwritten, not scaled.

        Matrix.multiply(a, transA, b, transB, into: c)
        let expected = Matrix.naiveMultiply(a, transA, b, transB)

        #expect(expected.rows == m && expected.cols == n)
        for i in 0..<m {
            for j in 0..<n {
                var magnitude = 0.0
                for p in 0..<k {
                    let x = transA == .none ? a[i, p] : a[p, i]
                    let y = transB == .none ? b[p, j] : b[j, p]
                    magnitude += abs(Double(x) * Double(y))
                }
                let bound = Double(k + 1) * Double(Float.ulpOfOne) * magnitude
                #expect(abs(Double(c[i, j]) - Double(expected[i, j])) <= bound, "C[\(i), \(j)] of \(m)×\(k)·\(k)×\(n)")
            }
        }
    }

    /// The naive product itself, on a case small enough to work by hand.
    @Test func naiveMultiplyByHand() {
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        let a = Matrix(rows: 2, cols: 3, rowMajor: [1, 2, 3, 4, 5, 6])
        let b = Matrix(rows: 3, cols: 2, rowMajor: [7, 8, 9, 10, 11, 12])
        #expect(Matrix.naiveMultiply(a, .none, b, .none).rowMajorValues == [58, 64, 139, 154])
        // Aᵀ·A is 3×3: [17 22 27; 22 29 36; 27 36 45]
        #expect(Matrix.naiveMultiply(a, .transposed, a, .none).rowMajorValues == [17, 22, 27, 22, 29, 36, 27, 36, 45])
        // Bᵀ·Aᵀ = (A·B)ᵀ
        #expect(Matrix.naiveMultiply(b, .transposed, a, .transposed).rowMajorValues == [58, 139, 64, 154])

        let c = Matrix(rows: 2, cols: 2)
        Matrix.multiply(a, .none, b, .none, into: c)
        #expect(c.rowMajorValues == [58, 64, 139, 154])
    }

    @Test func rowMajorInitialiserLaysOutColumnMajor() {
        let m = Matrix(rows: 2, cols: 3, rowMajor: [1, 2, 3, 4, 5, 6])
        #expect(m.columnMajorValues == [1, 4, 2, 5, 3, 6])
        #expect(m[0, 2] == 3 && m[1, 0] == 4)
        #expect(m.storage[1 + 2 * 2] == 6, "element (i, j) lives at i + j·rows")
    }

    @Test(arguments: [(1, 1), (1, 5), (5, 1), (3, 7), (16, 9)])
    func layoutsRoundTrip(rows: Int, cols: Int) {
        let values = (0..<rows * cols).map { Float($0) * 0.5 - 3 }
        let fromRows = Matrix(rows: rows, cols: cols, rowMajor: values)
        let fromColumns = Matrix(rows: rows, cols: cols, columnMajor: values)
        #expect(fromRows.rowMajorValues == values)
        #expect(fromColumns.columnMajorValues == values)
        #expect(Matrix(rows: rows, cols: cols, columnMajor: fromRows.columnMajorValues).rowMajorValues == values)
        for i in 0..<rows {
            for j in 0..<cols {
                #expect(fromRows[i, j] == values[i * cols + j])
                #expect(fromColumns[i, j] == values[i + j * rows])
            }
        }
    }

    @Test func copyIsIndependent() {
        let original = Matrix(rows: 2, cols: 2, rowMajor: [1, 2, 3, 4])
        let copy = original.copy()
        copy[0, 1] = 9
        original.fill(-1)
        #expect(copy.rowMajorValues == [1, 9, 3, 4])
        #expect(original.rowMajorValues == [-1, -1, -1, -1])
    }
}
