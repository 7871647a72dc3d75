import Core
import Foundation

/// The `--metrics` file: one JSON object per step and per evaluation, flushed as it goes so a
/// running job can be followed with `tail -f`.
final class MetricsLog {
    private let handle: FileHandle

    /// - Parameter append: keep what the file holds (a resumed run continues its metrics).
    init(path: String, append: Bool = false) throws {
        if !(append && FileManager.default.fileExists(atPath: path)) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ConfigurationError.invalid(field: "--metrics", reason: "cannot create '\(path)'")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ConfigurationError.invalid(field: "--metrics", reason: "cannot open '\(path)' for writing")
        }
        if append { _ = try? handle.seekToEnd() }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// `bytesReceivedShared`: of the step's bytes received, those that came through shared memory.
    func write(_ report: StepReport, bytesReceivedShared: Int) throws {
        var line = JSONLine()
        line.add("step", report.step)
        line.add("epoch", report.epoch)
        line.add("loss", report.loss)
        line.add("accuracy", report.accuracy)
        line.add("examples", report.examples)
        line.add("workers", report.workers)
        line.add("examples_per_s", report.examplesPerSecond)
        line.add("lr", Double(report.learningRate))
        let t = report.timings
        line.add("compute_s", t.compute)
        line.add("compute_slowest_s", t.computeSlowest)
        line.add("send_s", t.send)
        line.add("wait_s", t.wait)
        line.add("reduce_s", t.reduce)
        line.add("update_s", t.update)
        line.add("step_s", t.total)
        line.add("bytes_sent", t.bytesSent)
        line.add("bytes_received", t.bytesReceived)
        line.add("bytes_received_shared", bytesReceivedShared)
        if !t.reducerBytesReceived.isEmpty { line.add("reducer_bytes_received", t.reducerBytesReceived) }
        if !t.examplesByWorker.isEmpty {
            line.add(
                "worker_examples",
                Dictionary(
                    uniqueKeysWithValues: t.examplesByWorker.map {
                        ($0.key < 0 ? "coordinator" : String($0.key), $0.value)
                    }))
        }
        line.add("lost_workers", t.lostWorkers)
        line.add("shard_moves", t.shardMoves)
        line.add("backups", t.backups)
        line.add("rejected_messages", t.rejectedMessages)
        try append(line)
    }

    func write(_ report: EvaluationReport) throws {
        var line = JSONLine()
        line.add("event", "eval")
        line.add("step", report.step)
        line.add("epoch", report.epoch)
        line.add("test_accuracy", report.result.accuracy)
        line.add("test_loss", report.result.loss)
        line.add("test_examples", report.result.examples)
        line.add("wall_s", report.wallSeconds)
        try append(line)
    }

    /// One write(2) of the line: `FileHandle.write(contentsOf:)` and the `Data` it takes cost ten
    /// times that, every step.
    private func append(_ line: JSONLine) throws {
        var text = line.text + "\n"
        try text.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let wrote = Glibc.write(handle.fileDescriptor, bytes.baseAddress! + done, bytes.count - done)
                if wrote < 0 && errno == EINTR { continue }
                guard wrote > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                done += wrote
            }
        }
    }
}
