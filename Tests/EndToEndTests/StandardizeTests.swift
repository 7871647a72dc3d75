import Core
import Foundation
import Testing

extension EndToEnd {
    /// `train --standardize`: the training set's per-feature mean and std, computed once before
    /// sharding, stored in the model and its checkpoints, applied by evaluate and predict; and the
    /// warning that unscaled features draw without it.
    @Suite("--standardize")
    struct StandardizeTests {
        let scratch: ScratchDirectory
        /// The synthetic set with every feature ×100: unscaled, in [−100, 100].
        let data: LabelledData
        let csv: String

        init() throws {
            scratch = try ScratchDirectory("standardize")
            let synthetic = LabelledData.synthetic()
            data = LabelledData(labels: synthetic.labels, rows: synthetic.rows.map { $0.map { $0 * 100 } })
            csv = try data.write(to: scratch.file("data.csv"))
        }

        func train(_ arguments: [String]) async throws -> ProcessOutcome {
            try await Descent.coordinator(
                ["train", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "64", "--steps", "20"]
                    + arguments,
                in: scratch)
        }

        /// The statistics by hand, from the CSV text: Float64 sums of the Float32 features.
        func statisticsByHand() -> (mean: [Float], std: [Float]) {
            let values = data.rows.map { $0.map { Double(Float(String(format: "%.3f", $0))!) } }
            let m = Double(values.count)
            let mean = (0..<8).map { i in values.reduce(0) { $0 + $1[i] } / m }
            let variance = (0..<8).map { i in values.reduce(0) { $0 + ($1[i] - mean[i]) * ($1[i] - mean[i]) } / m }
            return (mean.map { Float($0) }, variance.map { Float($0.squareRoot()) })
        }

        @Test func unscaledFeaturesDrawAWarningThatNamesStandardize() async throws {
            let raw = try await train(["--in-process", "--out", "raw.st"])
            try #require(raw.succeeded, "\(raw.transcript)")
            #expect(
                raw.stderrLines.contains { $0.contains("warning") && $0.contains("--standardize") },
                "no warning about unscaled features\n\(raw.transcript)")
            let scaled = try await train(["--in-process", "--standardize", "--out", "scaled.st"])
            try #require(scaled.succeeded, "\(scaled.transcript)")
            #expect(
                !scaled.stderrLines.contains { $0.contains("warning") },
                "a warning despite --standardize\n\(scaled.transcript)")
        }

        @Test func theModelHoldsTheTrainingSetsStatisticsAndEvaluateAppliesThem() async throws {
            let outcome = try await train([
                "--in-process", "--standardize", "--test-dataset", "csv:\(csv)", "--out", "s.st",
            ])
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let file = try SafetensorsFile.read(from: scratch.file("s.st"))
            let (mean, std) = statisticsByHand()
            #expect(file.tensors["standardize.mean"] == .init(shape: [8], values: mean))
            #expect(file.tensors["standardize.std"] == .init(shape: [8], values: std))
            let inspected = try await Descent.coordinator(["inspect", "s.st"], in: scratch)
            #expect(inspected.stdout.contains("standardized"), "\(inspected.transcript)")

            // evaluate standardizes its input with the model's statistics: the training's test figures.
            let summary = try outcome.summary()
            let evaluated = try await Descent.coordinator(
                ["evaluate", "--model", "s.st", "--dataset", "csv:\(csv)"], in: scratch)
            try #require(evaluated.succeeded, "\(evaluated.transcript)")
            let accuracy = try #require(summary.double("test_accuracy"))
            let fields = evaluated.stdout.split(separator: " ").first { $0.hasPrefix("accuracy=") }
            let evaluatedAccuracy = try #require(fields.flatMap { Double($0.dropFirst(9)) }, "\(evaluated.stdout)")
            // The summary prints 16 significant digits.
            #expect(abs(evaluatedAccuracy - accuracy) <= 1e-15, "\(evaluated.stdout) against \(summary)")
            #expect(
                accuracy >= 0.6, "20 standardized steps should learn the synthetic labels well past chance: \(accuracy)"
            )

            // predict too: its classes score the same accuracy.
            let predicted = try await Descent.coordinator(
                ["predict", "--model", "s.st", "--input", "csv:\(csv)"], in: scratch)
            try #require(predicted.succeeded, "\(predicted.transcript)")
            let classes = predicted.stdoutLines.dropFirst().map { Int($0.split(separator: ",")[1])! }
            let correct = zip(classes, data.labels).filter { $0 == $1 }.count
            #expect(Double(correct) == (evaluatedAccuracy * Double(data.count)).rounded())
        }

        /// Computed once before sharding: any worker count gives the in-process bits, and a resumed
        /// run the uninterrupted one's.
        @Test func workersAndResumeKeepTheBits() async throws {
            let reference = try await train(["--in-process", "--shards", "2", "--standardize", "--out", "ref.st"])
            try #require(reference.succeeded, "\(reference.transcript)")
            let workers = try await train(["--local-workers", "2", "--standardize", "--out", "workers.st"])
            try #require(workers.succeeded, "\(workers.transcript)")
            #expect(try ModelComparison.sameTensors(scratch.file("ref.st"), scratch.file("workers.st")))

            let checkpoints = scratch.file("checkpoints")
            let first = try await Descent.coordinator(
                [
                    "train", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "64", "--steps", "10",
                    "--in-process", "--shards", "2", "--standardize", "--checkpoint-dir", checkpoints,
                    "--checkpoint-every", "10", "--out", "first.st",
                ], in: scratch)
            try #require(first.succeeded, "\(first.transcript)")
            let resumed = try await train([
                "--in-process", "--shards", "2", "--standardize", "--resume", checkpoints, "--out", "resumed.st",
            ])
            try #require(resumed.succeeded, "\(resumed.transcript)")
            #expect(try ModelComparison.sameTensors(scratch.file("ref.st"), scratch.file("resumed.st")))
            // Without --standardize, the resume takes it from the checkpoint: the same bits.
            let adopted = try await train([
                "--in-process", "--shards", "2", "--resume", checkpoints, "--out", "adopted.st",
            ])
            #expect(adopted.succeeded && adopted.stderr.contains("--standardize"), "\(adopted.transcript)")
            #expect(try ModelComparison.sameTensors(scratch.file("ref.st"), scratch.file("adopted.st")))
        }

        /// `--init` with a standardized model keeps its statistics (its weights expect them);
        /// `--standardize` over a model trained without it is refused.
        @Test func initKeepsTheModelsStatistics() async throws {
            try #require(try await train(["--in-process", "--standardize", "--out", "s.st"]).succeeded)
            let shifted = LabelledData(labels: data.labels, rows: data.rows.map { $0.map { $0 + 3 } })
            let other = try shifted.write(to: scratch.file("shifted.csv"))
            let tuned = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(other)", "--init", "s.st", "--steps", "5", "--out",
                    "t.st",
                ],
                in: scratch)
            try #require(tuned.succeeded, "\(tuned.transcript)")
            let (a, b) = (
                try SafetensorsFile.read(from: scratch.file("s.st")),
                try SafetensorsFile.read(from: scratch.file("t.st"))
            )
            #expect(a.tensors["standardize.mean"] == b.tensors["standardize.mean"])
            #expect(a.tensors["standardize.std"] == b.tensors["standardize.std"])

            try #require(try await train(["--in-process", "--out", "raw.st"]).succeeded)
            let refused = try await train(["--in-process", "--init", "raw.st", "--standardize", "--out", "x.st"])
            #expect(refused.failedCleanly && refused.stderr.contains("--standardize"), "\(refused.transcript)")
            #expect(!scratch.exists("x.st"))
        }

        // MARK: Fashion-MNIST as a Kaggle-style CSV

        /// `count` examples of a Fashion-MNIST split as CSV: a header, the label, then the 784
        /// pixels 0–255.
        static func pixelCSV(_ split: DatasetSpec.Split, count: Int) throws -> [UInt8] {
            let data = try DatasetSpec.fashionMNIST.load(split: split)
            let numbers = (0...255).map { Array(String($0).utf8) }
            var text = Array(("label," + (1...784).map { "pixel\($0)" }.joined(separator: ",") + "\n").utf8)
            text.reserveCapacity(count * 785 * 4)
            for j in 0..<min(count, data.count) {
                text += numbers[Int(data.labels[j])]
                for i in 0..<784 {
                    text.append(UInt8(ascii: ","))
                    text += numbers[Int((data.features[i, j] * 255).rounded())]
                }
                text.append(UInt8(ascii: "\n"))
            }
            return text
        }

        /// The case: pixels 0–255 trained to chance with no word. Standardized, 4,000
        /// training rows reach at least 72% on the 10,000 t10k rows after 5 epochs of 784-64-10.
        @Test(.enabled(if: FileManager.default.fileExists(atPath: DatasetSpec.fashionMNISTDirectory)))
        func rawPixelsLearnWithStandardize() async throws {
            try Self.pixelCSV(.train, count: 4000).write(to: scratch.file("train.csv"))
            try Self.pixelCSV(.test, count: 10000).write(to: scratch.file("test.csv"))
            let base = [
                "train", "--in-process", "--dataset", "csv:train.csv", "--test-dataset", "csv:test.csv", "--hidden",
                "64",
            ]
            let raw = try await Descent.coordinator(base + ["--steps", "1", "--out", "raw.st"], in: scratch)
            try #require(raw.succeeded, "\(raw.transcript)")
            #expect(
                raw.stderrLines.contains {
                    $0.contains("warning") && $0.contains("|x| = 255") && $0.contains("--standardize")
                },
                "\(raw.transcript)")

            let outcome = try await Descent.coordinator(
                base + ["--epochs", "5", "--standardize", "--out", "fmnist.st"], in: scratch, timeout: .seconds(120))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(!outcome.stderrLines.contains { $0.contains("warning") }, "\(outcome.transcript)")
            let accuracy = try #require(try outcome.summary().double("test_accuracy"))
            #expect(accuracy >= 0.72, "standardized raw pixels reached only \(accuracy)")
            let layers = try SafetensorsFile.read(from: scratch.file("fmnist.st")).metadata["layers"]
            #expect(layers == "784,64,10")
        }
    }
}
