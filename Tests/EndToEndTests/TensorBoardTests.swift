import Foundation
import Testing

extension EndToEnd {
    /// `--tensorboard DIR`: event files that TensorBoard's own reader loads, one run directory per
    /// run, holding the same numbers as the `--metrics` lines.
    @Suite("TensorBoard event files")
    struct TensorBoardTests {
        let scratch: ScratchDirectory
        let csv: String

        init() throws {
            scratch = try ScratchDirectory("tensorboard")
            csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
        }

        /// Two local workers, 3 epochs evaluated: TensorBoard reads one loss point per step, the
        /// metrics' values as Float32, and one test-accuracy point per evaluation.
        @Test func tensorBoardReadsEveryStepAndEveryEvaluation() async throws {
            let root = scratch.file("runs")
            let metrics = scratch.file("run.jsonl")
            let outcome = try await Descent.coordinator(
                [
                    "train", "--local-workers", "2", "--dataset", "csv:\(csv)", "--test-dataset", "csv:\(csv)",
                    "--layers", "8,16,3", "--batch", "100", "--epochs", "3", "--lr-schedule", "cosine",
                    "--metrics", metrics, "--tensorboard", root, "--out", scratch.file("model.safetensors"),
                ], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let runs = try Self.runDirectories(root)
            try #require(runs.count == 1, "one run directory expected under \(root): \(runs)")
            #expect(outcome.stderr.contains(runs[0]), "the log does not say where the events go:\n\(outcome.stderr)")

            let scalars = try await Self.read(runs[0], in: scratch)
            let file = try MetricsFile(path: metrics)
            let loss = try #require(scalars["train/loss"], "no train/loss in \(scalars.keys.sorted())")
            #expect(loss.map(\.step) == Array(1...file.steps.count), "steps \(loss.map(\.step))")
            for (point, line) in zip(loss, file.steps) {
                let expected = try #require(line.double("loss"))
                #expect(point.value == Float(expected), "step \(point.step): \(point.value) against \(expected)")
            }
            let rates = try #require(scalars["train/learning_rate"])
            let expectedRates = try file.steps.map { try #require($0.double("lr")) }.map { Float($0) }
            #expect(rates.map(\.value) == expectedRates, "the cosine schedule's rates differ")
            for tag in ["train/accuracy", "train/examples_per_s", "test/loss"] {
                #expect(scalars[tag]?.count ?? 0 > 0, "no \(tag) in \(scalars.keys.sorted())")
            }
            let accuracy = try #require(scalars["test/accuracy"], "no test/accuracy in \(scalars.keys.sorted())")
            #expect(accuracy.count == file.evaluations.count && accuracy.count >= 3, "\(accuracy)")
            for (point, line) in zip(accuracy, file.evaluations) {
                #expect(point.step == line.int("step"))
                #expect(point.value == Float(try #require(line.double("test_accuracy"))))
            }
        }

        /// A second run into the same DIR gets a directory of its own; the first is untouched.
        @Test func eachRunHasItsOwnDirectory() async throws {
            let root = scratch.file("runs")
            for steps in [7, 4] {
                let outcome = try await Descent.coordinator(
                    [
                        "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "100",
                        "--steps", String(steps), "--tensorboard", root, "--out", scratch.file("m.safetensors"),
                    ], in: scratch)
                try #require(outcome.succeeded, "\(outcome.transcript)")
            }
            let runs = try Self.runDirectories(root)
            try #require(runs.count == 2, "two run directories expected: \(runs)")
            var counts: [Int] = []
            for run in runs { counts.append(try await Self.read(run, in: scratch)["train/loss"]?.count ?? 0) }
            #expect(counts.sorted() == [4, 7], "loss points per run: \(counts)")
        }

        /// DIR that is a file: refused before any work, naming the flag; no model written.
        @Test func aFileIsRefusedAsTheDirectory() async throws {
            let blocker = scratch.file("not-a-directory")
            try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
            let model = scratch.file("never.safetensors")
            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--steps", "3",
                    "--tensorboard", blocker, "--out", model,
                ], in: scratch)
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("--tensorboard"), "\(outcome.transcript)")
            #expect(!FileManager.default.fileExists(atPath: model))
        }

        static func runDirectories(_ root: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: root).sorted().map {
                (root as NSString).appendingPathComponent($0)
            }
        }

        /// The scalars of one run as TensorBoard's `EventAccumulator` reads them, after
        /// `read_tensorboard.py` has checked every record's CRCs.
        static func read(_ run: String, in scratch: ScratchDirectory) async throws -> [String: [(
            step: Int, value: Float
        )]] {
            let script = Binaries.packageRoot.appendingPathComponent(
                "Tests/EndToEndTests/Reference/read_tensorboard.py"
            ).path
            let outcome = try await LaunchedProcess.run(
                "/usr/bin/env", ["python3", script, run], in: scratch, timeout: .seconds(120))
            try #require(
                outcome.succeeded,
                "reading \(run) with tensorboard failed (scripts/install-deps --test installs it):\n\(outcome.transcript)"
            )
            let json = try JSONLines.object(outcome.stdoutLines.last ?? "", source: "read_tensorboard.py's output")
            var scalars: [String: [(step: Int, value: Float)]] = [:]
            for (tag, points) in json {
                let pairs = try #require(points as? [[NSNumber]], "\(tag): \(points)")
                scalars[tag] = pairs.map { (step: $0[0].intValue, value: $0[1].floatValue) }
            }
            return scalars
        }
    }
}
