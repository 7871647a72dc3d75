/// A dense Float32 matrix stored column-major, BLAS's native layout.
///
/// Column-major is what makes the formulas one `cblas_sgemm` each: with one column per example,
/// A (n, m) keeps every example contiguous, and W (n_l, n_{l-1}) multiplies it without a copy.
/// The storage is allocated once and reused; hot loops never allocate.
public final class Matrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// `rows * cols` floats; element (i, j) lives at `i + j * rows`.
    public let storage: UnsafeMutablePointer<Float>

    public var count: Int { rows * cols }

    /// A zero-filled matrix.
    public init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "matrix shape must be non-negative")
        self.rows = rows
        self.cols = cols
        storage = .allocate(capacity: max(rows * cols, 1))
        storage.initialize(repeating: 0, count: max(rows * cols, 1))
    }

    /// A matrix from column-major values.
    public convenience init(rows: Int, cols: Int, columnMajor values: [Float]) {
        precondition(values.count == rows * cols, "expected \(rows * cols) values, got \(values.count)")
        self.init(rows: rows, cols: cols)
        values.withUnsafeBufferPointer { storage.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A matrix from row-major values (the layout of safetensors and of the printed page).
    public convenience init(rows: Int, cols: Int, rowMajor values: [Float]) {
        precondition(values.count == rows * cols, "expected \(rows * cols) values, got \(values.count)")
        self.init(rows: rows, cols: cols)
        for i in 0..<rows {
            for j in 0..<cols { storage[i + j * rows] = values[i * cols + j] }
        }
    }

    deinit { storage.deallocate() }

    public subscript(i: Int, j: Int) -> Float {
        get { storage[i + j * rows] }
        set { storage[i + j * rows] = newValue }
    }

    /// The values column-major, as stored.
    public var columnMajorValues: [Float] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// The values row-major.
    public var rowMajorValues: [Float] {
        var out = [Float](repeating: 0, count: count)
        for i in 0..<rows {
            for j in 0..<cols { out[i * cols + j] = storage[i + j * rows] }
        }
        return out
    }

    public func fill(_ value: Float) { storage.update(repeating: value, count: count) }

    public func copy() -> Matrix {
        let m = Matrix(rows: rows, cols: cols)
        m.storage.update(from: storage, count: count)
        return m
    }
}
