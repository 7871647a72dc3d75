@testable import Core

/// Labelled examples drawn from a seed, in Core's layout and in the reference's.
struct ExampleBatch {
    /// (n0, m), column-major: what Core reads.
    let features: Matrix
    let labels: [Int32]
    /// The same values as `features`, widened exactly: rows[i][j] is feature i of example j.
    let rows: [[Double]]

    var count: Int { labels.count }

    /// m examples of n0 standard-normal features, labels uniform over `classes`.
    init(features n0: Int, count m: Int, classes: Int, seed: UInt64) {
        var rng = Xoshiro256(seed: seed, stream: 101)
        let values = (0..<n0 * m).map { _ in Float(rng.nextGaussian()) }
        features = Matrix(rows: n0, cols: m, columnMajor: values)
        labels = (0..<m).map { _ in Int32(rng.next(below: classes)) }
        rows = (0..<n0).map { i in (0..<m).map { j in Double(values[i + j * n0]) } }
    }

    /// The batch as a `Dataset`, for the trainer.
    var dataset: Dataset { Dataset(features: features, labels: labels, source: "synthetic") }
}
