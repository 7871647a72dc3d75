import Core
import Foundation
import Testing

extension EndToEnd {
    /// `coordinator predict` on rows as users write them: with or without a label column, with or
    /// without a header, every row predicted once, in order — as CSV with a header, or JSON lines.
    @Suite("predict: every row, with or without a label")
    struct PredictRowsTests {
        let scratch: ScratchDirectory
        let data = LabelledData.synthetic()
        let model: String

        init() async throws {
            scratch = try ScratchDirectory("predict-rows")
            model = try await EvaluatePredictTests.trainedModel(data, layers: "8,16,3", in: scratch).model
        }

        /// The first five rows as CSV text: a label column or not, a header or not.
        func rows(label: Bool, header: Bool, lineEnd: String = "\n") -> String {
            var lines: [String] = []
            if header { lines.append(((label ? ["label"] : []) + (1...8).map { "f\($0)" }).joined(separator: ",")) }
            for index in 0..<5 {
                let features = data.rows[index].map { String(format: "%.3f", $0) }
                lines.append(((label ? ["\(data.labels[index])"] : []) + features).joined(separator: ","))
            }
            return lines.joined(separator: lineEnd) + lineEnd
        }

        func predict(_ text: String, name: String, _ extra: [String] = []) async throws -> ProcessOutcome {
            let path = scratch.file(name)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try await Descent.coordinator(
                ["predict", "--model", model, "--input", "csv:\(path)"] + extra, in: scratch)
        }

        @Test func fiveRowsGiveFivePredictionsWhateverTheLabelAndHeader() async throws {
            var outputs: [String: [String]] = [:]
            for label in [true, false] {
                for header in [true, false] {
                    let name = "rows-\(label ? "label" : "nolabel")-\(header ? "header" : "bare").csv"
                    let outcome = try await predict(rows(label: label, header: header), name: name)
                    try #require(outcome.succeeded, "\(outcome.transcript)")
                    let lines = outcome.stdoutLines
                    #expect(lines.first == "row,predicted,p0,p1,p2", "\(name): \(outcome.stdout)")
                    #expect(lines.count == 6, "\(name): 5 rows in, \(lines.count - 1) predictions out")
                    #expect(
                        lines.dropFirst().map { $0.split(separator: ",").first.map(String.init) }
                            == ["0", "1", "2", "3", "4"],
                        "\(name): rows out of order or shifted:\n\(outcome.stdout)")
                    #expect(
                        outcome.stderr.contains("line 1 taken as a header") == header,
                        "\(name): the header note\n\(outcome.transcript)")
                    outputs[name] = lines
                }
            }
            let reference = try #require(outputs["rows-label-header.csv"])
            for (name, lines) in outputs {
                #expect(lines == reference, "\(name) predicts other numbers than rows-label-header.csv")
            }
            // The probabilities are the model's for those very rows, not a neighbour's.
            let weights = ReferenceNetwork(try ModelWeights.read(from: model))
            for (index, line) in reference.dropFirst().enumerated() {
                let p = line.split(separator: ",").dropFirst(2).compactMap { Double($0) }
                let expected = weights.probabilities(data.rows[index])
                #expect(
                    p.count == 3 && zip(p, expected).allSatisfy { abs($0 - $1) <= 1e-5 },
                    "row \(index): \(p), the reference \(expected)")
            }
        }

        @Test func jsonLinesParseAndAgreeWithTheCSV() async throws {
            let csv = try await predict(rows(label: true, header: false, lineEnd: "\r\n"), name: "crlf.csv")
            try #require(csv.succeeded, "\(csv.transcript)")
            let jsonl = try await predict(rows(label: false, header: true), name: "plain.csv", ["--format", "jsonl"])
            try #require(jsonl.succeeded, "\(jsonl.transcript)")
            try #require(jsonl.stdoutLines.count == 5, "\(jsonl.transcript)")
            for (index, line) in jsonl.stdoutLines.enumerated() {
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                #expect(object["row"] as? Int == index)
                let fields = csv.stdoutLines[index + 1].split(separator: ",")
                #expect(object["predicted"] as? Int == Int(fields[1]))
                let p = try #require(object["probabilities"] as? [NSNumber], "\(line)")
                #expect(p.map(\.floatValue) == fields.dropFirst(2).compactMap { Float($0) }, "\(line)")
            }
        }

        @Test func outWritesTheSameTextToAFile() async throws {
            let out = scratch.file("predictions.csv")
            let toFile = try await predict(rows(label: true, header: true), name: "o.csv", ["--out", out])
            try #require(toFile.succeeded, "\(toFile.transcript)")
            #expect(toFile.stdout.isEmpty, "--out still printed: \(toFile.stdout)")
            let toStdout = try await predict(rows(label: true, header: true), name: "o.csv")
            #expect(try String(contentsOfFile: out, encoding: .utf8) == toStdout.stdout)
        }

        @Test func rowsThatFitNeitherWayAreRefusedWithBothCounts() async throws {
            for (text, extra, columns) in [
                (rows(label: false, header: false), ["--has-label"], 8),
                (rows(label: true, header: false), ["--no-label"], 9),
                ("1,2,3\n4,5,6\n", [], 3),
            ] {
                let outcome = try await predict(text, name: "misfit.csv", extra)
                #expect(outcome.failedCleanly, "\(outcome.transcript)")
                let message = outcome.stderr
                #expect(
                    message.contains("misfit.csv line 1") && message.contains("\(columns) columns")
                        && message.contains("8 features"),
                    "the reason lacks the file, line or counts\n\(outcome.transcript)")
                #expect(outcome.stdout.isEmpty, "\(outcome.transcript)")
            }
        }

        /// The reported bug: a first row whose first field is text was taken as a header and
        /// dropped. It is now an error naming line 1 and the field.
        @Test func aFirstRowMixingTextAndNumbersIsRefused() async throws {
            var text = rows(label: false, header: false)
            text = "x" + text.drop { $0 != "," }
            let outcome = try await predict(text, name: "mixed.csv")
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("mixed.csv line 1 column 1") && outcome.stderr.contains("\"x\""),
                "\(outcome.transcript)")
        }
    }
}
