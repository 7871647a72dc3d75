import Foundation

/// How a process ended, with everything it printed.
struct ProcessOutcome {
    let command: String
    let pid: Int32
    /// The exit status, or the signal number when `exited` is false.
    let status: Int32
    /// False when an uncaught signal ended the process (a crash, or our SIGKILL).
    let exited: Bool
    let stdout: String
    let stderr: String
    let seconds: Double

    var succeeded: Bool { exited && status == 0 }

    /// A deliberate failure: a non-zero exit status rather than a crash.
    var failedCleanly: Bool { exited && status != 0 }

    /// The non-empty lines of stderr.
    var stderrLines: [String] {
        stderr.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.allSatisfy(\.isWhitespace) }
    }

    var stdoutLines: [String] {
        stdout.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// The contract's summary: the last stdout line, one JSON object.
    func summary() throws -> [String: Any] {
        guard let last = stdoutLines.last else {
            throw HarnessError.malformedOutput("no summary line on stdout\n\(transcript)")
        }
        return try JSONLines.object(last, source: "the summary line")
    }

    /// The command and its output, for failure messages.
    var transcript: String {
        let ending = exited ? "exit status \(status)" : "signal \(status)"
        return
            "$ \(command)\n(\(ending) after \(String(format: "%.2f", seconds)) s)\n--- stdout ---\n\(Self.tail(stdout))\n--- stderr ---\n\(Self.tail(stderr))"
    }

    static func tail(_ text: String, lines: Int = 30) -> String {
        text.split(whereSeparator: \.isNewline).suffix(lines).joined(separator: "\n")
    }
}
