import Core
import Foundation
import Wire

/// `--tensorboard DIR`: the run's scalars as a TensorBoard event file in a directory of its own
/// under DIR (`DIR/20261205-141800-host-4711/events.out.tfevents.…`), flushed as it goes so
/// TensorBoard shows a running job. Written without TensorFlow: `EventFile` makes the records.
///
/// Per step: `train/loss`, `train/accuracy`, `train/learning_rate`, `train/examples_per_s`; per
/// evaluation: `test/loss`, `test/accuracy`.
final class TensorBoardLog: RunLog {
    /// The run's own directory under the `--tensorboard` one.
    let directory: String
    private let handle: FileHandle

    init(root: String, now: Date = Date()) throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let run = "\(formatter.string(from: now))-\(host)-\(getpid())"
        directory = (root as NSString).appendingPathComponent(run)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError.invalid(field: "--tensorboard", reason: "cannot create '\(directory)'")
        }
        let seconds = Int(now.timeIntervalSince1970)
        let file = (directory as NSString).appendingPathComponent("events.out.tfevents.\(seconds).\(host)")
        guard FileManager.default.createFile(atPath: file, contents: nil),
            let handle = FileHandle(forWritingAtPath: file)
        else {
            throw ConfigurationError.invalid(field: "--tensorboard", reason: "cannot create '\(file)'")
        }
        self.handle = handle
        try append(EventFile.versionEvent(wallTime: now.timeIntervalSince1970))
    }

    deinit { try? handle.close() }

    /// Before any work: DIR exists (made if need be) as a writable directory.
    static func prepare(root: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ConfigurationError.invalid(field: "--tensorboard", reason: "'\(root)' is a file, not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError.invalid(field: "--tensorboard", reason: "cannot create the directory '\(root)'")
        }
        guard FileManager.default.isWritableFile(atPath: root) else {
            throw ConfigurationError.invalid(field: "--tensorboard", reason: "'\(root)' is not writable")
        }
    }

    func write(_ report: StepReport, bytesReceivedShared: Int) throws {
        try append(
            EventFile.scalarsEvent(
                wallTime: Date().timeIntervalSince1970, step: report.step,
                scalars: [
                    ("train/loss", Float(report.loss)), ("train/accuracy", Float(report.accuracy)),
                    ("train/learning_rate", report.learningRate),
                    ("train/examples_per_s", Float(report.examplesPerSecond)),
                ]))
    }

    func write(_ report: EvaluationReport) throws {
        try append(
            EventFile.scalarsEvent(
                wallTime: Date().timeIntervalSince1970, step: report.step,
                scalars: [("test/loss", Float(report.result.loss)), ("test/accuracy", Float(report.result.accuracy))]
            ))
    }

    private func append(_ event: [UInt8]) throws {
        try handle.write(contentsOf: EventFile.record(event))
    }
}

/// What the training loop reports to each of its logs: `--metrics`, `--tensorboard`.
protocol RunLog: AnyObject {
    func write(_ report: StepReport, bytesReceivedShared: Int) throws
    func write(_ report: EvaluationReport) throws
}

extension MetricsLog: RunLog {}
