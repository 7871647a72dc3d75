import Foundation

/// A `--metrics` file, split into its two kinds of line.
struct MetricsFile {
    /// One per step, in file order.
    let steps: [[String: Any]]
    /// The `"event":"eval"` lines, in file order.
    let evaluations: [[String: Any]]

    init(path: String) throws {
        let lines = try JSONLines.read(path)
        steps = lines.filter { $0["event"] == nil }
        evaluations = lines.filter { $0["event"] as? String == "eval" }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// A whole-number field (JSON numbers arrive as NSNumber).
    func int(_ key: String) -> Int? {
        guard let number = self[key] as? NSNumber, let value = Double(exactly: number.doubleValue),
            value.rounded() == value
        else { return nil }
        return Int(value)
    }

    func double(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }

    /// A list of whole numbers; empty when the field is missing or not one.
    func ints(_ key: String) -> [Int] { (self[key] as? [NSNumber])?.map(\.intValue) ?? [] }
}
