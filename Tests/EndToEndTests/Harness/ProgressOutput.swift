import Foundation

/// The progress line `coordinator train` shows on stderr:
/// `epoch 1/2  step 34/600  loss 1.0110  acc 68.8%  42,837 ex/s  workers 1/1  ETA 0:02`.
enum ProgressOutput {
    static let eraseLine = "\u{1B}[2K"
    static let fields = ["epoch", "step", "loss", "ex/s", "workers", "ETA"]

    /// The lines a terminal was shown in place: what follows each `ESC[2K`, up to the next
    /// carriage return or newline, when it is a progress line (log lines are redrawn the same way).
    static func redraws(_ screen: String) -> [String] {
        screen.components(separatedBy: eraseLine).dropFirst()
            .map { String(String.UnicodeScalarView($0.unicodeScalars.prefix { $0 != "\r" && $0 != "\n" })) }
            .filter { step(of: $0) != nil }
    }

    /// The non-empty lines of what a terminal showed, split at the Unicode-scalar level: there
    /// `\r\n` is one Character, which `split(separator: "\n")` would not split at.
    static func screenLines(_ screen: String) -> [String] {
        screen.unicodeScalars.split(separator: "\n")
            .map { String(String.UnicodeScalarView($0)).trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
    }

    /// `step S/T` of a progress line, or nil for any other line.
    static func step(of line: String) -> (step: Int, total: Int)? {
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(of: "step"), index + 1 < words.count, line.contains(" ex/s") else {
            return nil
        }
        let parts = words[index + 1].split(separator: "/")
        guard parts.count == 2, let step = Int(parts[0]), let total = Int(parts[1]) else { return nil }
        return (step, total)
    }

    /// The fields of `fields` that `line` lacks.
    static func missingFields(_ line: String) -> [String] {
        let words = Set(line.split(separator: " ").map(String.init))
        return fields.filter { !words.contains($0) }
    }
}
