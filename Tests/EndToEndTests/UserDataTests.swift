import Core
import Foundation
import Testing

extension EndToEnd {
    /// Data as users write it: quoted fields, CRLF and labels like `1.0` train exactly as the
    /// plain file does; a first row that mixes text and numbers is refused; an IDX directory
    /// without a test split never passes its training split off as one; `--hidden` takes n0 and
    /// nL from the data.
    @Suite("data as users write it")
    struct UserDataTests {
        let scratch: ScratchDirectory
        let data = LabelledData.synthetic()
        let csv: String

        init() throws {
            scratch = try ScratchDirectory("user-data")
            csv = try data.write(to: scratch.file("data.csv"))
        }

        func train(_ arguments: [String]) async throws -> ProcessOutcome {
            try await Descent.coordinator(
                ["train", "--in-process", "--steps", "20", "--batch", "64"] + arguments, in: scratch)
        }

        /// The synthetic data with every field quoted (the header's with a comma inside), labels
        /// written `1.0`, and CRLF line ends.
        var decoratedCSV: String {
            var text = "\"label\",\"f1, the first\"," + (2...8).map { "\"f\($0)\"" }.joined(separator: ",") + "\r\n"
            for (label, row) in zip(data.labels, data.rows) {
                text +=
                    "\"\(label).0\"," + row.map { "\"" + String(format: "%.3f", $0) + "\"" }.joined(separator: ",")
                    + "\r\n"
            }
            return text
        }

        @Test func quotedFieldsCRLFAndWholeDecimalLabelsTrainAsThePlainFile() async throws {
            let decorated = scratch.file("decorated.csv")
            try decoratedCSV.write(toFile: decorated, atomically: true, encoding: .utf8)
            let plain = try await train(["--dataset", "csv:\(csv)", "--layers", "8,16,3", "--out", "plain.st"])
            try #require(plain.succeeded, "\(plain.transcript)")
            let fancy = try await train(["--dataset", "csv:\(decorated)", "--layers", "8,16,3", "--out", "fancy.st"])
            try #require(fancy.succeeded, "\(fancy.transcript)")
            #expect(
                fancy.stderrLines.contains { $0.contains("decorated.csv: line 1 taken as a header") },
                "\(fancy.transcript)")
            #expect(
                try ModelComparison.sameTensors(scratch.file("plain.st"), scratch.file("fancy.st")),
                "the quoted CRLF file trained other weights than the plain one")
            // The files differ only in where the data came from: its fingerprint is the same.
            let fingerprints = try ["plain.st", "fancy.st"].map {
                try SafetensorsFile.read(from: scratch.file($0)).metadata["data_fingerprint"]
            }
            #expect(fingerprints[0] != nil && fingerprints[0] == fingerprints[1], "\(fingerprints)")
        }

        @Test func aFirstRowMixingTextAndNumbersIsRefusedNamingLineOne() async throws {
            let path = scratch.file("mixed.csv")
            let body = data.csv.split(separator: "\n").dropFirst().joined(separator: "\n")
            try ("label," + (1...8).map { "0.\($0)" }.joined(separator: ",") + "\n" + body + "\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            let outcome = try await train(["--dataset", "csv:\(path)", "--layers", "8,16,3", "--out", "x.st"])
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(outcome.stderrLines.count == 1, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("mixed.csv line 1 column 1"), "\(outcome.transcript)")
            #expect(!scratch.exists("x.st"))
        }

        @Test func aLabelWithAFractionIsRefusedNamingLineAndField() async throws {
            var lines = data.csv.split(separator: "\n").map(String.init)
            lines[4] = "1.5," + lines[4].split(separator: ",", maxSplits: 1)[1]
            let path = scratch.file("fraction.csv")
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let outcome = try await train(["--dataset", "csv:\(path)", "--layers", "8,16,3", "--out", "x.st"])
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("fraction.csv line 5 column 1") && outcome.stderr.contains("\"1.5\""),
                "\(outcome.transcript)")
        }

        // MARK: IDX without a test split

        /// A directory of 12 training images and labels, and no t10k- files.
        func trainOnlyIDX() throws -> String {
            let directory = try scratch.directory("train-only")
            try IDXFiles.images(count: 12).write(to: "\(directory)/train-images-idx3-ubyte")
            try IDXFiles.labels(count: 12).write(to: "\(directory)/train-labels-idx1-ubyte")
            return directory
        }

        @Test func evaluateOnADirectoryWithoutT10kIsAnErrorNamingTheFiles() async throws {
            let directory = try trainOnlyIDX()
            let trained = try await train([
                "--dataset", "idx:\(directory)", "--layers", "784,10", "--batch", "0", "--out", "m.st",
            ])
            try #require(trained.succeeded, "\(trained.transcript)")
            let outcome = try await Descent.coordinator(
                ["evaluate", "--model", "m.st", "--dataset", "idx:\(directory)"], in: scratch)
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(outcome.stdout.isEmpty, "evaluate printed an accuracy: \(outcome.stdout)")
            for name in [directory, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
                #expect(outcome.stderr.contains(name), "the reason does not name \(name)\n\(outcome.transcript)")
            }
        }

        @Test func trainingWithoutATestSplitWarnsAndReportsNoTestAccuracy() async throws {
            let directory = try trainOnlyIDX()
            let outcome = try await train([
                "--dataset", "idx:\(directory)", "--test-dataset", "idx:\(directory)", "--layers", "784,10",
                "--batch", "0", "--metrics", "m.jsonl", "--out", "m.st",
            ])
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let warnings = outcome.stderrLines.filter {
                $0.contains("warning") && $0.contains("t10k-images-idx3-ubyte")
            }
            #expect(warnings.count == 1, "expected one warning naming the missing files\n\(outcome.transcript)")
            let summary = try outcome.summary()
            #expect(summary["test_accuracy"] == nil && summary["test_loss"] == nil, "\(summary)")
            #expect(try MetricsFile(path: scratch.file("m.jsonl")).evaluations.isEmpty)
            #expect(!outcome.stderr.contains(": test accuracy"), "\(outcome.transcript)")
        }

        // MARK: --hidden

        @Test func hiddenTakesTheInputsAndClassesFromTheData() async throws {
            let outcome = try await train(["--dataset", "csv:\(csv)", "--hidden", "16", "--out", "h.st"])
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let file = try SafetensorsFile.read(from: scratch.file("h.st"))
            #expect(file.metadata["layers"] == "8,16,3")
            #expect(file.tensors["W1"]?.shape == [16, 8] && file.tensors["W2"]?.shape == [3, 16])

            let binary = try LabelledData.synthetic(classes: 1).write(to: scratch.file("binary.csv"))
            let two = try await train(["--dataset", "csv:\(binary)", "--hidden", "4,4", "--out", "b.st"])
            try #require(two.succeeded, "\(two.transcript)")
            // Labels 0/1 give two softmax units.
            #expect(try SafetensorsFile.read(from: scratch.file("b.st")).metadata["layers"] == "8,4,4,2")
        }

        @Test func hiddenWithLayersIsRefused() async throws {
            let outcome = try await train([
                "--dataset", "csv:\(csv)", "--hidden", "16", "--layers", "8,16,3", "--out", "h.st",
            ])
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("--hidden") && outcome.stderr.contains("--layers"), "\(outcome.transcript)")
            #expect(!scratch.exists("h.st"))
            let bad = try await train(["--dataset", "csv:\(csv)", "--hidden", "16,x", "--out", "h.st"])
            #expect(bad.failedCleanly && bad.stderr.contains("'x'"), "\(bad.transcript)")
        }

        @Test func hiddenAndStandardizeInAConfigFileAreTheFlags() async throws {
            let yaml = """
                in-process: true
                dataset: csv:data.csv
                hidden: [16]
                standardize: true
                steps: 20
                batch: 64
                out: yaml.st

                """
            try yaml.write(toFile: scratch.file("run.yaml"), atomically: true, encoding: .utf8)
            let fromFile = try await Descent.coordinator(["train", "--config", "run.yaml"], in: scratch)
            try #require(fromFile.succeeded, "\(fromFile.transcript)")
            let flags = try await train([
                "--dataset", "csv:data.csv", "--hidden", "16", "--standardize", "--out", "f.st",
            ])
            try #require(flags.succeeded, "\(flags.transcript)")
            #expect(try ModelComparison.sameBytes(scratch.file("yaml.st"), scratch.file("f.st")))
            let printed = try await Descent.coordinator(
                ["train", "--config", "run.yaml", "--print-config"], in: scratch)
            #expect(
                printed.stdout.contains("hidden: 16") && printed.stdout.contains("standardize: true"),
                "\(printed.transcript)")
        }
    }
}
