import Core
import Foundation

/// A labelled data set as a CSV file holds it, and the exact values that file says.
struct LabelledData {
    /// One label per example.
    var labels: [Int]
    /// One row of n0 features per example.
    var rows: [[Double]]
    var header: Bool = true

    var count: Int { labels.count }
    var featureCount: Int { rows.first?.count ?? 0 }

    /// A deterministic data set whose labels a small network can learn: features are multiples
    /// of 1/1000 in [−1, 1] (so the CSV text is exact), and the label is the best of `classes`
    /// fixed linear scores — or, for `classes` = 1 (a sigmoid output), whether one score is positive.
    ///
    /// The default m = 1001 is not divisible by 2, 3 or 4, so shards differ in size.
    static func synthetic(examples m: Int = 1001, features n0: Int = 8, classes: Int = 3, seed: UInt64 = 42)
        -> LabelledData
    {
        var rng = SplitMix64(seed: seed)
        let scorers = max(classes, 1)
        let teacher = (0..<scorers).map { _ in (0..<n0).map { _ in Double.random(in: -1...1, using: &rng) } }
        var labels: [Int] = []
        var rows: [[Double]] = []
        for _ in 0..<m {
            let row = (0..<n0).map { _ in Double(Int.random(in: -1000...1000, using: &rng)) / 1000 }
            let scores = teacher.map { w in zip(w, row).reduce(0) { $0 + $1.0 * $1.1 } }
            let label =
                classes == 1
                ? (scores[0] > 0 ? 1 : 0)
                : scores.indices.max { scores[$0] < scores[$1] }!
            labels.append(label)
            rows.append(row)
        }
        return LabelledData(labels: labels, rows: rows)
    }

    /// The CSV text: an optional header, then `label,f1,…,fn` per row.
    var csv: String {
        var text = header ? "label," + (1...featureCount).map { "f\($0)" }.joined(separator: ",") + "\n" : ""
        for (label, row) in zip(labels, rows) {
            text += "\(label)," + row.map { String(format: "%.3f", $0) }.joined(separator: ",") + "\n"
        }
        return text
    }

    /// The 1-based file line of example `index` (after the header, if any).
    func line(ofExample index: Int) -> Int { index + 1 + (header ? 1 : 0) }

    @discardableResult
    func write(to path: String) throws -> String {
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
