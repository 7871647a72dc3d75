import Core
import Foundation
import Testing

extension EndToEnd {
    /// Bad data, models and flags stop a run before it writes anything: a non-zero exit, one line
    /// on stderr naming the problem (file and line where there is one), no `--out`, no `--metrics`.
    @Suite("Bad input is refused up front")
    struct BadInputTests {
        let scratch: ScratchDirectory
        let data = LabelledData.synthetic()
        /// A well-formed CSV of `data` (8 features, 3 classes, header on line 1).
        let csv: String
        let out: String
        let metrics: String

        init() throws {
            scratch = try ScratchDirectory("bad-input")
            csv = try data.write(to: scratch.file("data.csv"))
            out = scratch.file("out.safetensors")
            metrics = scratch.file("metrics.jsonl")
        }

        /// `coordinator train --in-process` with `arguments`, an `--out` and a `--metrics`.
        func train(_ arguments: [String]) async throws -> ProcessOutcome {
            try await Descent.coordinator(
                ["train", "--in-process", "--steps", "1"] + arguments + ["--out", out, "--metrics", metrics],
                in: scratch, timeout: .seconds(30))
        }

        /// The outcome of a refused command: a clean non-zero exit, a one-line reason that
        /// contains every one of `mentions` and at least one of `oneOf` (case-insensitive), and
        /// neither output file.
        func expectRefused(
            _ outcome: ProcessOutcome, mentions: [String], oneOf alternatives: [String] = [],
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(
                outcome.failedCleanly, "expected a non-zero exit\n\(outcome.transcript)", sourceLocation: sourceLocation
            )
            #expect(
                outcome.stderrLines.count == 1, "expected a one-line reason\n\(outcome.transcript)",
                sourceLocation: sourceLocation)
            let message = outcome.stderr.lowercased()
            for fragment in mentions {
                #expect(
                    message.contains(fragment.lowercased()),
                    "the reason does not mention \"\(fragment)\"\n\(outcome.transcript)", sourceLocation: sourceLocation
                )
            }
            if !alternatives.isEmpty {
                #expect(
                    alternatives.contains { message.contains($0.lowercased()) },
                    "the reason mentions none of \(alternatives)\n\(outcome.transcript)", sourceLocation: sourceLocation
                )
            }
            #expect(!FileManager.default.fileExists(atPath: out), "--out was written", sourceLocation: sourceLocation)
            #expect(
                !FileManager.default.fileExists(atPath: metrics), "--metrics was written",
                sourceLocation: sourceLocation)
        }

        /// `text` without `paths`, so numbers checked in a message are not found inside a path.
        func withoutPaths(_ text: String, _ paths: [String]) -> String {
            paths.reduce(text) { $0.replacingOccurrences(of: $1, with: "<path>") }
        }

        // MARK: IDX

        /// An IDX directory of `count` 28×28 images (gzipped) and labels: the valid starting point
        /// every IDX case damages one thing of.
        func idxDirectory(
            images: [UInt8]? = nil, imagesName: String = "train-images-idx3-ubyte.gz", labels: [UInt8]? = nil
        ) throws -> String {
            let directory = try scratch.directory("idx-\(UUID().uuidString.prefix(6))")
            try (images ?? Gzip.stored(IDXFiles.images(count: 12))).write(to: "\(directory)/\(imagesName)")
            try (labels ?? IDXFiles.labels(count: 12)).write(to: "\(directory)/train-labels-idx1-ubyte")
            return directory
        }

        /// The control: the undamaged directory trains, so the failures below are the damage's.
        @Test func validIDXDirectoryTrains() async throws {
            let directory = try idxDirectory()
            let outcome = try await train(["--dataset", "idx:\(directory)", "--layers", "784,10", "--batch", "0"])
            #expect(outcome.succeeded, "\(outcome.transcript)")
            #expect(FileManager.default.fileExists(atPath: out) && FileManager.default.fileExists(atPath: metrics))
        }

        @Test func missingIDXDirectory() async throws {
            let outcome = try await train(["--dataset", "idx:/nonexistent/descent-e2e", "--layers", "784,10"])
            expectRefused(
                outcome, mentions: ["/nonexistent/descent-e2e"],
                oneOf: ["no such", "not found", "missing", "does not exist"])
        }

        @Test func truncatedIDXImages() async throws {
            let images = IDXFiles.images(count: 12, pixelBytes: 12 * 784 - 100)
            let directory = try idxDirectory(images: images, imagesName: "train-images-idx3-ubyte")
            let outcome = try await train(["--dataset", "idx:\(directory)", "--layers", "784,10"])
            expectRefused(
                outcome, mentions: ["\(directory)/train-images-idx3-ubyte"], oneOf: ["truncated", "short", "expected"])
        }

        @Test func corruptGzip() async throws {
            var garbage = Gzip.stored(IDXFiles.images(count: 12))
            for i in 10..<40 { garbage[i] = UInt8(truncatingIfNeeded: i &* 37) }
            let directory = try idxDirectory(images: garbage)
            let outcome = try await train(["--dataset", "idx:\(directory)", "--layers", "784,10"])
            expectRefused(
                outcome, mentions: ["\(directory)/train-images-idx3-ubyte.gz"], oneOf: ["gzip", "corrupt", "compress"])
        }

        @Test func truncatedGzip() async throws {
            let whole = Gzip.stored(IDXFiles.images(count: 12))
            let directory = try idxDirectory(images: Array(whole.prefix(whole.count / 2)))
            let outcome = try await train(["--dataset", "idx:\(directory)", "--layers", "784,10"])
            expectRefused(
                outcome, mentions: ["\(directory)/train-images-idx3-ubyte.gz"],
                oneOf: ["gzip", "truncated", "ends early", "corrupt"])
        }

        @Test func imageAndLabelCountsDiffer() async throws {
            let directory = try idxDirectory(labels: IDXFiles.labels(count: 11))
            let outcome = try await train(["--dataset", "idx:\(directory)", "--layers", "784,10"])
            expectRefused(outcome, mentions: ["train-images", "train-labels"])
            let message = withoutPaths(
                outcome.stderr, ["\(directory)/train-images-idx3-ubyte.gz", "\(directory)/train-labels-idx1-ubyte"])
            #expect(
                message.contains("12") && message.contains("11"),
                "the reason does not give both counts (12, 11)\n\(outcome.transcript)")
        }

        // MARK: CSV

        /// The synthetic CSV with line `line` (1-based, the header is line 1) replaced.
        func csv(replacingLine line: Int, with text: String) throws -> String {
            var lines = data.csv.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines[line - 1] = text
            let path = scratch.file("edited-\(line).csv")
            try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        @Test func csvRowWithTooFewColumns() async throws {
            let path = try csv(replacingLine: 7, with: "1,0.5,0.5,0.5,0.5,0.5,0.5,0.5")
            let outcome = try await train(["--dataset", "csv:\(path)", "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path, "line 7"], oneOf: ["column", "field"])
        }

        @Test func csvFieldThatIsNotANumber() async throws {
            let path = try csv(replacingLine: 9, with: "2,0.5,0.5,abc,0.5,0.5,0.5,0.5,0.5")
            let outcome = try await train(["--dataset", "csv:\(path)", "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path, "line 9"], oneOf: ["abc", "number"])
        }

        @Test func labelOutOfRangeForSoftmax() async throws {
            let index = 499
            let row = data.rows[index].map { String(format: "%.3f", $0) }.joined(separator: ",")
            let line = data.line(ofExample: index)
            let path = try csv(replacingLine: line, with: "5,\(row)")
            let outcome = try await train(["--dataset", "csv:\(path)", "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path, "line \(line)"], oneOf: ["label", "class"])
        }

        @Test func labelOutOfRangeForSigmoid() async throws {
            let binary = LabelledData.synthetic(classes: 1)
            var lines = binary.csv.split(separator: "\n").map(String.init)
            lines[2] = "2," + lines[2].split(separator: ",", maxSplits: 1)[1]
            let path = scratch.file("binary.csv")
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let outcome = try await train(["--dataset", "csv:\(path)", "--layers", "8,4,1"])
            expectRefused(outcome, mentions: [path, "line 3"], oneOf: ["label", "class"])
        }

        @Test func layersWhoseInputSizeIsNotTheFeatureCount() async throws {
            let outcome = try await train(["--dataset", "csv:\(csv)", "--layers", "7,5,3"])
            expectRefused(outcome, mentions: [], oneOf: ["feature", "input"])
            let message = withoutPaths(outcome.stderr, [csv])
            #expect(
                message.contains("8") && message.contains("7"),
                "the reason does not give both sizes (8, 7)\n\(outcome.transcript)")
        }

        // MARK: Models

        @Test func initThatIsNotSafetensors() async throws {
            let path = scratch.file("garbage.safetensors")
            var rng = SplitMix64(seed: 3)
            try (0..<256).map { _ in UInt8.random(in: 0...255, using: &rng) }.write(to: path)
            let outcome = try await train(["--dataset", "csv:\(csv)", "--init", path, "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path])
        }

        @Test func initCutShort() async throws {
            let path = scratch.file("short.safetensors")
            try ModelWeights.random(layers: [8, 5, 3], activation: "relu", seed: 1).write(to: path)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
            let outcome = try await train(["--dataset", "csv:\(csv)", "--init", path, "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path])
        }

        @Test func initForOtherLayers() async throws {
            let path = scratch.file("8-4-3.safetensors")
            try ModelWeights.random(layers: [8, 4, 3], activation: "relu", seed: 1).write(to: path)
            let outcome = try await train(["--dataset", "csv:\(csv)", "--init", path, "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path])
        }

        @Test func initWhoseTensorsContradictItsLayers() async throws {
            let path = scratch.file("inconsistent.safetensors")
            var file = try SafetensorsFile.read(
                from: {
                    let valid = scratch.file("valid.safetensors")
                    try ModelWeights.random(layers: [8, 5, 3], activation: "relu", seed: 1).write(to: valid)
                    return valid
                }())
            file.tensors["W1"] = .init(shape: [4, 8], values: [Float](repeating: 0.1, count: 32))
            try file.write(to: path)
            let outcome = try await train(["--dataset", "csv:\(csv)", "--init", path, "--layers", "8,5,3"])
            expectRefused(outcome, mentions: [path, "W1"])
        }

        @Test func evaluateOnAModelThatIsNotSafetensors() async throws {
            let path = scratch.file("garbage-model.safetensors")
            try Array("this is not a model, just text long enough to have a header".utf8).write(to: path)
            let outcome = try await Descent.coordinator(
                ["evaluate", "--model", path, "--dataset", "csv:\(csv)"], in: scratch, timeout: .seconds(30))
            expectRefused(outcome, mentions: [path])
            #expect(outcome.stdout.isEmpty, "evaluate printed a result for a malformed model: \(outcome.stdout)")
        }

        // MARK: Flags

        @Test func workersTogetherWithInProcess() async throws {
            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--workers", "1", "--dataset", "csv:\(csv)", "--layers", "8,5,3", "--out",
                    out, "--metrics", metrics,
                ],
                in: scratch, timeout: .seconds(30))
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("--in-process") && outcome.stderr.contains("--workers"), "\(outcome.transcript)"
            )
            #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: metrics))
        }
    }
}
