import Foundation

/// The metrics file and the summary line: one JSON object per line.
enum JSONLines {
    static func object(_ line: String, source: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw HarnessError.malformedOutput("\(source) is not a JSON object: \(line)")
        }
        return object
    }

    /// Every line of the file at `path`, parsed.
    static func read(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(whereSeparator: \.isNewline).enumerated().map { index, line in
            try object(String(line), source: "\(path) line \(index + 1)")
        }
    }
}
