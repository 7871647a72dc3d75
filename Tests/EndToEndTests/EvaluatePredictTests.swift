import Core
import Foundation
import Testing

extension EndToEnd {
    /// `coordinator evaluate` and `coordinator predict` on a model `train` wrote, held against the
    /// Float64 reference's accuracy, loss and probabilities for the same weights.
    @Suite("evaluate and predict")
    struct EvaluatePredictTests {
        /// Trains `layers` for 100 full-batch steps on `data` and returns the model's path.
        static func trainedModel(_ data: LabelledData, layers: String, in scratch: ScratchDirectory) async throws -> (
            model: String, csv: String
        ) {
            let csv = try data.write(to: scratch.file("data.csv"))
            let model = scratch.file("model.safetensors")
            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", layers, "--batch", "0",
                    "--steps", "100", "--lr", "0.5", "--out", model,
                ],
                in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            return (model, csv)
        }

        @Test func evaluatePrintsTheModelsAccuracyAndLoss() async throws {
            let scratch = try ScratchDirectory("evaluate")
            let data = LabelledData.synthetic()
            let (model, csv) = try await Self.trainedModel(data, layers: "8,16,3", in: scratch)

            let outcome = try await Descent.coordinator(
                ["evaluate", "--model", model, "--dataset", "csv:\(csv)"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let line = try #require(outcome.stdoutLines.last)
            var fields: [String: String] = [:]
            for pair in line.split(separator: " ") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            let accuracy = try #require(fields["accuracy"].flatMap(Double.init), "no accuracy=… in \(line)")
            let loss = try #require(fields["loss"].flatMap(Double.init), "no loss=… in \(line)")
            #expect(fields["examples"] == "1001", "\(line)")

            let expected = ReferenceNetwork(try ModelWeights.read(from: model)).evaluate(data)
            // Float32 against Float64 may flip a near-tie or two, never more.
            #expect(
                abs(accuracy - expected.accuracy) <= 2.0 / 1001,
                "accuracy \(accuracy), the reference \(expected.accuracy)")
            #expect(
                abs(loss - expected.loss) <= 1e-4 * max(1, expected.loss),
                "loss \(loss), the reference \(expected.loss)")
            #expect(accuracy >= 0.8, "100 full-batch steps should learn the synthetic labels; accuracy \(accuracy)")
        }

        @Test func predictPrintsClassAndProbabilitiesPerRow() async throws {
            let scratch = try ScratchDirectory("predict")
            let data = LabelledData.synthetic()
            let (model, csv) = try await Self.trainedModel(data, layers: "8,16,3", in: scratch)
            let reference = ReferenceNetwork(try ModelWeights.read(from: model))

            let outcome = try await Descent.coordinator(
                ["predict", "--model", model, "--input", "csv:\(csv)"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            try #require(
                outcome.stdoutLines.count == data.count + 1,
                "expected a header and \(data.count) lines, got \(outcome.stdoutLines.count)")
            #expect(outcome.stdoutLines.first == "row,predicted,p0,p1,p2")
            var problems: [String] = []
            for (index, line) in outcome.stdoutLines.dropFirst().enumerated() {
                let tokens = line.split(separator: ",")
                guard tokens.count == 5, Int(tokens[0]) == index, let predicted = Int(tokens[1]) else {
                    problems.append("row \(index): \"\(line)\" is not the row, a class and 3 probabilities")
                    continue
                }
                let p = tokens.dropFirst(2).compactMap { Double($0) }
                let expected = reference.probabilities(data.rows[index])
                if p.count != 3 || abs(p.reduce(0, +) - 1) > 1e-5 {
                    problems.append("row \(index): probabilities \(p) do not sum to 1")
                }
                if p.count == 3, predicted != p.indices.max(by: { p[$0] < p[$1] }) {
                    problems.append("row \(index): class \(predicted) is not the most probable")
                }
                if p.count == 3, zip(p, expected).contains(where: { abs($0 - $1) > 1e-5 }) {
                    problems.append("row \(index): probabilities \(p), the reference \(expected)")
                }
            }
            #expect(problems.isEmpty, "\(problems.count) bad rows, first: \(problems.prefix(5))")
        }

        /// A sigmoid output (nL = 1) predicts class 1 exactly when p(1) ≥ ½.
        @Test func predictWithASigmoidOutput() async throws {
            let scratch = try ScratchDirectory("predict-sigmoid")
            let data = LabelledData.synthetic(classes: 1)
            let (model, csv) = try await Self.trainedModel(data, layers: "8,6,1", in: scratch)
            let reference = ReferenceNetwork(try ModelWeights.read(from: model))

            let outcome = try await Descent.coordinator(
                ["predict", "--model", model, "--input", "csv:\(csv)"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            try #require(
                outcome.stdoutLines.count == data.count + 1,
                "expected a header and \(data.count) lines, got \(outcome.stdoutLines.count)")
            // One sigmoid unit: its probability of class 1 alone.
            #expect(outcome.stdoutLines.first == "row,predicted,p1")
            var problems: [String] = []
            for (index, line) in outcome.stdoutLines.dropFirst().enumerated() {
                let tokens = line.split(separator: ",")
                guard tokens.count == 3, Int(tokens[0]) == index, let predicted = Int(tokens[1]),
                    let p1 = Double(tokens[2])
                else {
                    problems.append("row \(index): \"\(line)\" is not the row, a class and p(1)")
                    continue
                }
                if predicted != (p1 >= 0.5 ? 1 : 0) {
                    problems.append("row \(index): class \(predicted) with p(1) = \(p1)")
                }
                let expected = reference.probabilities(data.rows[index])[0]
                if abs(p1 - expected) > 1e-5 { problems.append("row \(index): p(1) \(p1), the reference \(expected)") }
            }
            #expect(problems.isEmpty, "\(problems.count) bad rows, first: \(problems.prefix(5))")
        }
    }
}
