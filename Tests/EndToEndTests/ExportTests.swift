import Core
import Foundation
import Testing

extension EndToEnd {
    /// `coordinator export --format onnx`: the file passes onnx's full checker, and onnxruntime
    /// gives for every row the probabilities and class `coordinator predict` prints for it.
    @Suite("export to ONNX")
    struct ExportTests {
        /// The largest |p_onnxruntime − p_predict| allowed: the same Float32 arithmetic, in
        /// another order.
        static let tolerance = 1e-5

        /// One row of `coordinator predict`'s output.
        struct PredictedRow: Equatable {
            var predicted: Int
            var probabilities: [Double]
        }

        /// `coordinator predict`'s rows. Read here and nowhere else, so that a change of format
        /// touches only this: today `CLASS P…` separated by spaces; also a CSV whose header is
        /// `row,predicted,p0,…`, each line then `ROW,CLASS,P…` (ROW counted from 0).
        static func predictedRows(_ stdout: String) throws -> [PredictedRow] {
            var rows: [PredictedRow] = []
            let lines = stdout.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            let isCSV = lines.first?.hasPrefix("row,predicted") == true
            for line in isCSV ? Array(lines.dropFirst()) : lines {
                var fields = line.split(separator: isCSV ? "," : " ").map(String.init)
                if isCSV {
                    guard fields.first.flatMap(Int.init) == rows.count else {
                        throw HarnessError.malformedOutput("predict: \"\(line)\" is not row \(rows.count)")
                    }
                    fields.removeFirst()
                }
                let probabilities = fields.dropFirst().compactMap { Double($0) }
                guard let predicted = fields.first.flatMap(Int.init), !probabilities.isEmpty,
                    probabilities.count == fields.count - 1
                else {
                    throw HarnessError.malformedOutput("predict: \"\(line)\" is not a class and its probabilities")
                }
                rows.append(PredictedRow(predicted: predicted, probabilities: probabilities))
            }
            return rows
        }

        @Test func predictsOutputIsReadInEitherFormat() throws {
            let expected = [
                PredictedRow(predicted: 1, probabilities: [0.25, 0.75]),
                PredictedRow(predicted: 0, probabilities: [0.5, 0.5]),
            ]
            #expect(try Self.predictedRows("1 0.25 0.75\n0 0.5 0.5\n") == expected)
            #expect(try Self.predictedRows("row,predicted,p0,p1\n0,1,0.25,0.75\n1,0,0.5,0.5\n") == expected)
            #expect(throws: HarnessError.self) { try Self.predictedRows("row,predicted,p0\n3,1,0.5\n") }
        }

        /// Every hidden activation with both outputs: a sigmoid unit on binary labels, a softmax
        /// over three classes. Two hidden layers, so activations chain.
        @Test(arguments: ["relu", "tanh", "sigmoid", "leaky-relu"], [1, 3])
        func onnxruntimeGivesWhatPredictPrints(activation: String, outputs: Int) async throws {
            let scratch = try ScratchDirectory("export")
            let csv = try LabelledData.synthetic(examples: 301, classes: outputs).write(to: scratch.file("data.csv"))
            let model = scratch.file("model.safetensors")
            let trained = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,12,6,\(outputs)",
                    "--activation", activation, "--batch", "0", "--steps", "60", "--lr", "0.5", "--out", model,
                ], in: scratch)
            try #require(trained.succeeded, "\(trained.transcript)")
            let onnx = try await Self.export(model, in: scratch)

            let run = try await Self.onnxRuntime(onnx, csv: csv, in: scratch)
            try Self.expectInterface(run, inputs: 8, outputs: outputs)
            #expect(run.metadata["activation"] == activation && run.metadata["layers"] == "8,12,6,\(outputs)")
            let hidden = ["relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky-relu": "LeakyRelu"][activation]
            #expect(run.ops == ["Gemm", hidden, "Gemm", hidden, "Gemm", outputs == 1 ? "Sigmoid" : "Softmax"])
            let difference = try await Self.compare(run.probabilities, withPredictOf: model, csv: csv, in: scratch)
            print("ExportTests: \(activation), \(outputs) output(s): max |p_onnxruntime − p_predict| = \(difference)")
        }

        /// A model carrying standardize.mean and standardize.std (written here by hand, as a later
        /// `train` will): onnxruntime on the raw rows gives what `predict` gives for the same
        /// weights without them on rows standardized here, (x − mean) / std in Float32.
        @Test func standardizationInTheModelComesFirst() async throws {
            let scratch = try ScratchDirectory("export-standardize")
            let layers = [4, 6, 3]
            var file = SafetensorsFile(metadata: ["layers": "4,6,3", "activation": "tanh", "output": "softmax"])
            var k = 0
            for l in 1..<layers.count {
                let count = layers[l] * layers[l - 1]
                file.tensors["W\(l)"] = SafetensorsFile.Tensor(
                    shape: [layers[l], layers[l - 1]],
                    values: (0..<count).map { _ in
                        k += 1
                        return Float(sin(Double(k) * 1.7))
                    })
                file.tensors["b\(l)"] = SafetensorsFile.Tensor(
                    shape: [layers[l]], values: (0..<layers[l]).map { Float($0) * 0.1 - 0.2 })
            }
            let plain = scratch.file("plain.safetensors")
            try file.write(to: plain)
            let mean: [Float] = [10, -3.5, 0, 250]
            let std: [Float] = [4, 0.5, 1, 100]
            file.tensors["standardize.mean"] = SafetensorsFile.Tensor(shape: [4], values: mean)
            file.tensors["standardize.std"] = SafetensorsFile.Tensor(shape: [4], values: std)
            let standardizing = scratch.file("standardizing.safetensors")
            try file.write(to: standardizing)

            // Raw rows around the mean, in eighths (exact in any float); and the same standardized.
            var rng = SplitMix64(seed: 7)
            let raw = (0..<200).map { _ in
                (0..<4).map { mean[$0] + std[$0] * Float(Int.random(in: -24...24, using: &rng)) / 8 }
            }
            let rawCSV = scratch.file("raw.csv")
            let standardizedCSV = scratch.file("standardized.csv")
            try raw.map { "0," + $0.map { "\($0)" }.joined(separator: ",") }.joined(separator: "\n")
                .write(toFile: rawCSV, atomically: true, encoding: .utf8)
            try raw.map { row in "0," + row.indices.map { "\((row[$0] - mean[$0]) / std[$0])" }.joined(separator: ",") }
                .joined(separator: "\n").write(toFile: standardizedCSV, atomically: true, encoding: .utf8)

            let onnx = try await Self.export(standardizing, in: scratch)
            let run = try await Self.onnxRuntime(onnx, csv: rawCSV, in: scratch)
            try Self.expectInterface(run, inputs: 4, outputs: 3)
            #expect(run.ops == ["Sub", "Div", "Gemm", "Tanh", "Gemm", "Softmax"])
            #expect(run.metadata["standardized"] == "true")
            let difference = try await Self.compare(
                run.probabilities, withPredictOf: plain, csv: standardizedCSV, in: scratch)
            print("ExportTests: standardized: max |p_onnxruntime − p_predict| = \(difference)")
        }

        @Test func aFormatOtherThanONNXIsRefusedAndNothingIsWritten() async throws {
            let scratch = try ScratchDirectory("export-format")
            let out = scratch.file("model.tflite")
            let outcome = try await Descent.coordinator(
                ["export", "--model", scratch.file("any.safetensors"), "--format", "tflite", "--out", out], in: scratch)
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("--format") && outcome.stderr.contains("onnx"), "\(outcome.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out))
            #expect(try Self.temporaryFiles(in: scratch).isEmpty)
        }

        /// A missing model, and one that is not safetensors: refused naming the file; an existing
        /// output stays as it was and no temporary file is left beside it.
        @Test func aMissingOrBadModelIsRefusedNamingItAndTheOutputIsLeftAlone() async throws {
            let scratch = try ScratchDirectory("export-bad")
            let out = scratch.file("model.onnx")
            try Data("earlier".utf8).write(to: URL(fileURLWithPath: out))
            let garbage = scratch.file("garbage.safetensors")
            try Data("not a model at all".utf8).write(to: URL(fileURLWithPath: garbage))
            let halfStandardized = scratch.file("half.safetensors")
            try SafetensorsFile(
                tensors: [
                    "W1": .init(shape: [1, 2], values: [1, 2]), "b1": .init(shape: [1], values: [0]),
                    "standardize.mean": .init(shape: [2], values: [0, 0]),
                ], metadata: ["layers": "2,1", "activation": "relu"]
            ).write(to: halfStandardized)
            for model in [scratch.file("absent.safetensors"), garbage, halfStandardized] {
                let outcome = try await Descent.coordinator(
                    ["export", "--model", model, "--format", "onnx", "--out", out], in: scratch)
                #expect(outcome.failedCleanly, "\(outcome.transcript)")
                #expect(outcome.stderr.contains(model), "the error does not name \(model):\n\(outcome.transcript)")
                #expect(try String(contentsOfFile: out, encoding: .utf8) == "earlier")
            }
            #expect(try Self.temporaryFiles(in: scratch).isEmpty)
        }

        // MARK: Helpers

        /// What an interrupted atomic write would leave: `.NAME.tmp-…` beside the target.
        static func temporaryFiles(in scratch: ScratchDirectory) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.contains(".tmp-") }
        }

        /// `coordinator export --model MODEL --format onnx --out MODEL.onnx`; the output's path.
        static func export(_ model: String, in scratch: ScratchDirectory) async throws -> String {
            let out = (model as NSString).deletingPathExtension + ".onnx"
            let outcome = try await Descent.coordinator(
                ["export", "--model", model, "--format", "onnx", "--out", out], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(outcome.stdout.contains(out), "export does not say what it wrote:\n\(outcome.transcript)")
            return out
        }

        /// What `Reference/onnx_run.py` reports of a model run on a CSV's rows.
        struct RuntimeRun {
            var json: [String: Any]
            var probabilities: [[Double]]
            var metadata: [String: String] { json["metadata"] as? [String: String] ?? [:] }
            var ops: [String] { json["ops"] as? [String] ?? [] }
        }

        /// onnx.checker (full check) and onnxruntime on `model` and the rows of `csv`.
        static func onnxRuntime(_ model: String, csv: String, in scratch: ScratchDirectory) async throws -> RuntimeRun {
            let script = Binaries.packageRoot.appendingPathComponent("Tests/EndToEndTests/Reference/onnx_run.py").path
            let outcome = try await LaunchedProcess.run(
                "/usr/bin/env", ["python3", script, model, csv], in: scratch, timeout: .seconds(120))
            try #require(
                outcome.succeeded,
                "checking and running \(model) with onnx and onnxruntime failed (scripts/install-deps --test installs them):\n\(outcome.transcript)"
            )
            let json = try JSONLines.object(outcome.stdoutLines.last ?? "", source: "onnx_run.py's output")
            let rows = try #require(json["probabilities"] as? [[NSNumber]], "no probabilities in \(json.keys.sorted())")
            return RuntimeRun(json: json, probabilities: rows.map { $0.map(\.doubleValue) })
        }

        /// One input `input` [batch, n0] and one output `probabilities` [batch, nL], float32; opset 17,
        /// Descent as the producer.
        static func expectInterface(_ run: RuntimeRun, inputs: Int, outputs: Int) throws {
            let input = try #require((run.json["inputs"] as? [[String: Any]])?.first)
            let output = try #require((run.json["outputs"] as? [[String: Any]])?.first)
            #expect(input["name"] as? String == "input" && input["type"] as? String == "tensor(float)")
            #expect("\(input["shape"] ?? "")" == "\(["batch", inputs] as [Any])", "input shape \(input)")
            #expect(output["name"] as? String == "probabilities" && output["type"] as? String == "tensor(float)")
            #expect("\(output["shape"] ?? "")" == "\(["batch", outputs] as [Any])", "output shape \(output)")
            #expect((run.json["opset"] as? [String: Int])?[""] == 17)
            #expect(run.json["producer"] as? [String] == ["descent", DescentVersion.text])
        }

        /// Holds onnxruntime's rows against `coordinator predict`'s for `model` on `csv`: each
        /// probability within `tolerance`, the same class. Returns the largest difference seen.
        static func compare(
            _ runtime: [[Double]], withPredictOf model: String, csv: String, in scratch: ScratchDirectory
        ) async throws -> Double {
            let outcome = try await Descent.coordinator(
                ["predict", "--model", model, "--input", "csv:\(csv)"], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let predicted = try predictedRows(outcome.stdout)
            try #require(
                predicted.count == runtime.count, "predict gave \(predicted.count) rows, onnxruntime \(runtime.count)")
            var largest = 0.0
            var problems: [String] = []
            for (index, (row, p)) in zip(predicted, runtime).enumerated() {
                // A one-unit model's p(1) alone, whether predict prints p(1) or p(0) p(1).
                let expected = p.count == 1 ? Array(row.probabilities.suffix(1)) : row.probabilities
                guard expected.count == p.count else {
                    problems.append("row \(index): predict \(row.probabilities), onnxruntime \(p)")
                    continue
                }
                let difference = zip(expected, p).map { abs($0 - $1) }.max() ?? 0
                largest = max(largest, difference)
                if difference > tolerance { problems.append("row \(index): predict \(expected), onnxruntime \(p)") }
                let runtimeClass = p.count == 1 ? (p[0] >= 0.5 ? 1 : 0) : p.indices.max { p[$0] < p[$1] } ?? -1
                if runtimeClass != row.predicted {
                    problems.append("row \(index): predict says class \(row.predicted), onnxruntime \(p)")
                }
            }
            #expect(problems.isEmpty, "\(problems.count) rows differ, first: \(problems.prefix(5))")
            return largest
        }
    }
}
