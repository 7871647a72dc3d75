import Foundation
import Logging

/// Standard error, shared by log lines and the live progress line so that neither tears the
/// other: on a terminal a log line clears the progress line, prints, and the line is redrawn.
final class Terminal: @unchecked Sendable {
    static let standardError = Terminal(fileDescriptor: STDERR_FILENO)

    /// Whether stderr is a terminal: only then is the progress line redrawn in place.
    let isInteractive: Bool
    private let fileDescriptor: Int32
    private let lock = NSLock()
    private var progress: String?

    init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
        isInteractive = isatty(fileDescriptor) == 1
    }

    /// Replaces the live line (terminals only).
    func showProgress(_ line: String) {
        lock.withLock {
            progress = line
            write("\r\u{1B}[2K" + line)
        }
    }

    /// Leaves the live line as the last thing on screen and moves below it.
    func endProgress() {
        lock.withLock {
            if progress != nil { write("\n") }
            progress = nil
        }
    }

    /// A whole line, printed above the live line.
    func printLine(_ line: String) {
        lock.withLock {
            if let progress, isInteractive {
                write("\r\u{1B}[2K" + line + "\n" + progress)
            } else {
                write(line + "\n")
            }
        }
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes {
                Foundation.write(fileDescriptor, $0.baseAddress! + offset, $0.count - offset)
            }
            if written <= 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// swift-log's lines, through `Terminal` so they coexist with the progress line.
struct TerminalLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let context =
            all.isEmpty
            ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withInternetDateTime])
        Terminal.standardError.printLine("\(time) \(event.level) \(label)\(context): \(event.message)")
    }
}
