import Core
import Foundation

/// One `coordinator train` run, timed from its own per-step metrics (medians, warm-up dropped).
struct TrainingRun {
    let coordinator: String

    struct Figures {
        let examplesPerSecond: Double
        let step: Double
        /// Summed over the step's partials.
        let compute: Double
        /// The longest of the step's partials.
        let computeSlowest: Double
        /// What a step takes beyond its slowest partial's compute (median over the steps of
        /// step_s − compute_slowest_s): hand-offs, and the coordinator's own work that no compute
        /// hides.
        let beyondSlowest: Double
        let bytesPerStep: Double
        let peakKilobytes: Int
        /// The largest peak RSS (VmHWM) seen among the coordinator's worker processes.
        let workerPeakKilobytes: Int
    }

    /// An executable in the same directory as this one.
    static func sibling(_ name: String) -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }

    func run(mode: [String], layers: String, batch: Int, steps: Int, dataset: String) throws -> Figures {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("descent-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let metrics = directory.appendingPathComponent("metrics.jsonl").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: coordinator)
        process.arguments =
            ["train"] + mode + [
                "--dataset", dataset, "--test-dataset", dataset, "--layers", layers, "--batch", String(batch),
                "--steps", String(steps), "--metrics", metrics, "--out",
                directory.appendingPathComponent("model.safetensors").path,
                "--quiet",
            ]
        let summaryPath = directory.appendingPathComponent("summary.json").path
        _ = FileManager.default.createFile(atPath: summaryPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: summaryPath)
        try process.run()
        let workerPeak = Self.watchChildren(of: process)
        guard process.terminationStatus == 0 else {
            throw BenchError(
                "coordinator \(process.arguments!.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["event"] == nil }
        let counted = Array(lines.dropFirst(lines.count / 10))
        func median(_ value: ([String: Any]) -> Double?) -> Double {
            let values = counted.compactMap(value).sorted()
            return values.isEmpty ? 0 : values[values.count / 2]
        }
        func number(_ line: [String: Any], _ key: String) -> Double? { (line[key] as? NSNumber)?.doubleValue }
        func median(_ key: String) -> Double { median { number($0, key) } }
        let step = median("step_s")
        let summaryLine =
            try String(contentsOfFile: summaryPath, encoding: .utf8).split(separator: "\n").last.map(String.init)
            ?? "{}"
        let summary = (try? JSONSerialization.jsonObject(with: Data(summaryLine.utf8))) as? [String: Any] ?? [:]
        return Figures(
            examplesPerSecond: median("examples") / step, step: step, compute: median("compute_s"),
            computeSlowest: median("compute_slowest_s"),
            beyondSlowest: median { line in
                number(line, "step_s").flatMap { step in number(line, "compute_slowest_s").map { step - $0 } }
            },
            bytesPerStep: median("bytes_sent") + median("bytes_received"),
            peakKilobytes: Int(((summary["peak_rss_mb"] as? NSNumber)?.doubleValue ?? 0) * 1024),
            workerPeakKilobytes: workerPeak)
    }

    /// Until `process` exits, samples the peak RSS (VmHWM, which only grows) of its children —
    /// the local workers — every 20 ms; returns the largest seen.
    static func watchChildren(of process: Process) -> Int {
        var peak = 0
        let parent = process.processIdentifier
        while process.isRunning {
            for child in children(of: parent) { peak = max(peak, PeakMemory.residentKilobytes(pid: child) ?? 0) }
            usleep(20_000)
        }
        process.waitUntilExit()
        return peak
    }

    /// The parent's children that are `worker` processes. A child caught between its spawn and
    /// its exec still shares the coordinator's memory and reports the coordinator's peak, so
    /// only children already running `worker` (by /proc/PID/comm) count.
    private static func children(of parent: Int32) -> [Int32] {
        let task = "/proc/\(parent)/task/\(parent)/children"
        guard let text = try? String(contentsOfFile: task, encoding: .utf8) else { return [] }
        return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .filter { pid in
                (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines) == "worker"
            }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
