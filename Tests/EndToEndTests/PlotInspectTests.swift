import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

extension EndToEnd {
    /// `coordinator plot` on the metrics `train` writes, and `coordinator inspect` on its models.
    @Suite("plot and inspect")
    struct PlotInspectTests {
        let scratch: ScratchDirectory
        let csv: String

        init() throws {
            scratch = try ScratchDirectory("plot-inspect")
            csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
        }

        /// Trains 8,16,3 for 200 steps of 100 examples (about 20 epochs of the 1001: enough steps
        /// for a smoothing window of 2), writing `NAME.jsonl` and `NAME.safetensors`; with
        /// `evaluate`, the data is its own test set, evaluated after every epoch.
        func train(_ name: String, lr: String = "0.5", evaluate: Bool = true) async throws -> (
            metrics: String, model: String
        ) {
            let metrics = scratch.file("\(name).jsonl")
            let model = scratch.file("\(name).safetensors")
            let testSet = evaluate ? ["--test-dataset", "csv:\(csv)"] : []
            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "100",
                    "--steps", "200", "--lr", lr, "--metrics", metrics, "--out", model,
                ] + testSet,
                in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            return (metrics, model)
        }

        /// A refused command: a clean non-zero exit and one line on stderr holding every fragment.
        func expectRefused(
            _ outcome: ProcessOutcome, mentions fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(
                outcome.failedCleanly, "expected a non-zero exit\n\(outcome.transcript)", sourceLocation: sourceLocation
            )
            #expect(
                outcome.stderrLines.count == 1, "expected a one-line reason\n\(outcome.transcript)",
                sourceLocation: sourceLocation)
            for fragment in fragments {
                #expect(
                    outcome.stderr.contains(fragment),
                    "the reason does not mention \"\(fragment)\"\n\(outcome.transcript)", sourceLocation: sourceLocation
                )
            }
        }

        // MARK: plot

        /// Two runs, one evaluated and one not: a well-formed SVG with both axes' titles, a legend
        /// naming each file, and one path for each curve the files hold (4 + 2).
        @Test func plotOverlaysRunsInOneSVG() async throws {
            let evaluated = try await train("run-evaluated")
            let unevaluated = try await train("run-unevaluated", lr: "0.1", evaluate: false)
            let svg = scratch.file("curves.svg")

            let outcome = try await Descent.coordinator(
                ["plot", evaluated.metrics, unevaluated.metrics, "--out", svg, "--title", "Two <runs>"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let document = try SVGDocument(path: svg)

            #expect(document.root == "svg")
            for text in ["step", "loss", "accuracy", "Two <runs>", "run-evaluated.jsonl", "run-unevaluated.jsonl"] {
                #expect(document.texts.contains(text), "no text element \"\(text)\" in \(document.texts)")
            }
            #expect(
                document.texts.contains { $0.contains("moving average") },
                "the legend does not say train accuracy is smoothed")
            #expect(document.texts.filter { $0.hasSuffix(".jsonl") }.count == 2, "\(document.texts)")
            let curves = document.paths.map(\.title).sorted()
            #expect(
                curves == [
                    "run-evaluated.jsonl test accuracy", "run-evaluated.jsonl test loss",
                    "run-evaluated.jsonl train accuracy", "run-evaluated.jsonl train loss",
                    "run-unevaluated.jsonl train accuracy", "run-unevaluated.jsonl train loss",
                ], "\(curves)")
            // One point per evaluated step (the evaluation at the end may repeat the last epoch's).
            let evaluatedSteps = Set(try MetricsFile(path: evaluated.metrics).evaluations.compactMap { $0.int("step") })
                .count
            try #require(evaluatedSteps >= 2, "the run should be evaluated after each epoch")
            for path in document.paths where path.title.contains(" test ") {
                #expect(
                    path.pointCount == evaluatedSteps,
                    "\(path.title): \(path.pointCount) points for \(evaluatedSteps) evaluated steps")
            }
        }

        /// 10,000 steps, some with null losses: every curve is cut to at most 2,000 points and
        /// the file stays small.
        @Test func plotOfALongRunStaysSmall() async throws {
            let metrics = scratch.file("long.jsonl")
            var lines: [String] = []
            for step in 1...10_000 {
                let loss = step % 97 == 0 ? "null" : "\(2 * exp(-Double(step) / 2_000) + 0.1)"
                lines.append(
                    "{\"step\":\(step),\"epoch\":1,\"loss\":\(loss),\"accuracy\":\(Double(step % 100) / 100),\"examples\":128,\"workers\":1}"
                )
                if step % 1_000 == 0 {
                    lines.append(
                        "{\"event\":\"eval\",\"step\":\(step),\"epoch\":\(step / 1_000),\"test_accuracy\":0.8,\"test_loss\":0.5}"
                    )
                }
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: metrics, atomically: true, encoding: .utf8)
            let svg = scratch.file("long.svg")

            let outcome = try await Descent.coordinator(["plot", metrics, "--out", svg], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let document = try SVGDocument(path: svg)
            #expect(document.paths.count == 4)
            for path in document.paths {
                #expect(path.pointCount <= 2_000 && path.pointCount > 0, "\(path.title): \(path.pointCount) points")
                #expect(
                    !path.data.contains("nan") && !path.data.contains("inf"),
                    "\(path.title) holds a non-finite coordinate")
            }
            let size = try FileManager.default.attributesOfItem(atPath: svg)[.size] as? Int ?? 0
            #expect(size < 250_000, "\(size) bytes")
        }

        @Test func plotRefusesAMissingFile() async throws {
            let run = try await train("run")
            let missing = scratch.file("no-such-run.jsonl")
            let svg = scratch.file("curves.svg")
            let outcome = try await Descent.coordinator(["plot", run.metrics, missing, "--out", svg], in: scratch)
            expectRefused(outcome, mentions: [missing])
            #expect(!FileManager.default.fileExists(atPath: svg), "the plot was written")
        }

        @Test func plotRefusesALineThatIsNotJSON() async throws {
            let run = try await train("run")
            var lines = try String(contentsOfFile: run.metrics, encoding: .utf8).split(separator: "\n").map(String.init)
            lines.insert("step 3: loss 0.5", at: 2)
            let damaged = scratch.file("damaged.jsonl")
            try lines.joined(separator: "\n").write(toFile: damaged, atomically: true, encoding: .utf8)
            let svg = scratch.file("curves.svg")

            let outcome = try await Descent.coordinator(["plot", run.metrics, damaged, "--out", svg], in: scratch)
            expectRefused(outcome, mentions: [damaged, "line 3"])
            #expect(!FileManager.default.fileExists(atPath: svg), "the plot was written")
        }

        // MARK: inspect

        @Test func inspectPrintsLayersAndParameterCount() async throws {
            let run = try await train("run")
            let outcome = try await Descent.coordinator(["inspect", run.model], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let lines = outcome.stdoutLines
            #expect(lines.contains { $0.contains("8 → 16 → 3") }, "no layers line\n\(outcome.stdout)")
            #expect(lines.contains { $0.hasPrefix("activation") && $0.contains("relu") }, "\(outcome.stdout)")
            #expect(lines.contains { $0.hasPrefix("output") && $0.contains("softmax") }, "\(outcome.stdout)")
            for (tensor, shape, count) in [
                ("W1", "[16, 8]", 128), ("b1", "[16]", 16), ("W2", "[3, 16]", 48), ("b2", "[3]", 3),
            ] {
                #expect(
                    lines.contains { $0.contains(tensor) && $0.contains(shape) && $0.hasSuffix(" \(count)") },
                    "no row for \(tensor)\n\(outcome.stdout)")
            }
            // 8·16 + 16 + 16·3 + 3
            let total = try #require(lines.first { $0.hasPrefix("total") }, "no total line\n\(outcome.stdout)")
            #expect(total.split(separator: " ").last == "195", "\(total)")
            let metadata = lines.drop { $0 != "metadata" }.dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(metadata == metadata.sorted(), "metadata is not sorted: \(metadata)")
            #expect(metadata.contains("layers=8,16,3") && metadata.contains("step=200"), "\(metadata)")
        }

        @Test func inspectRefusesGarbage() async throws {
            let garbage = scratch.file("garbage.safetensors")
            try "this is not a model, only some text".write(toFile: garbage, atomically: true, encoding: .utf8)
            let outcome = try await Descent.coordinator(["inspect", garbage], in: scratch)
            expectRefused(outcome, mentions: [garbage])
            #expect(outcome.stdout.isEmpty, "\(outcome.transcript)")
        }
    }
}

/// What the tests read from an SVG file: it must parse as XML; then its root, the content of
/// its `<text>` elements, and its `<path>` elements with their `<title>`.
private struct SVGDocument {
    struct Path {
        var data: String
        var title = ""
        /// Vertices in `M x,y x,y …`, the form the plot writes (a lone point adds `h0`).
        var pointCount: Int { data.dropFirst().split(separator: " ").filter { $0.contains(",") }.count }
    }

    var root = ""
    var texts: [String] = []
    var paths: [Path] = []

    private init() {}

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let reader = Reader()
        let parser = XMLParser(data: data)
        parser.delegate = reader
        guard parser.parse() else {
            throw HarnessError.malformedOutput(
                "\(path) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "unknown error")")
        }
        self = reader.document
    }

    private final class Reader: NSObject, XMLParserDelegate {
        var document = SVGDocument()
        private var open: [String] = []
        private var characters = ""

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if open.isEmpty { document.root = name }
            if name == "path" { document.paths.append(Path(data: attributes["d"] ?? "")) }
            open.append(name)
            characters = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { characters += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
            if name == "text" { document.texts.append(characters) }
            if name == "title", open.last == "path" { document.paths[document.paths.count - 1].title = characters }
            characters = ""
        }
    }
}
