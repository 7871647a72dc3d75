import Core
import Foundation
import Testing

extension EndToEnd {
    /// `coordinator train --in-process --batch 0 --steps 1` from `--init` weights must write
    /// W − α·dW, b − α·db, with the true gradient of the mean cross-entropy taken from two
    /// independent Float64 implementations: `ReferenceNetwork` and numpy (`Reference/one_step.py`).
    @Suite("One full-batch SGD step matches the formulas")
    struct OneStepTests {
        struct Network: CustomTestStringConvertible, Sendable {
            let layers: [Int]
            let activation: String
            var testDescription: String { "\(layers.map(String.init).joined(separator: ",")) \(activation)" }
        }

        static let networks = [
            Network(layers: [8, 5, 3], activation: "relu"),
            Network(layers: [8, 4, 1], activation: "relu"), // sigmoid output, binary labels
            Network(layers: [8, 5, 3], activation: "tanh"),
            Network(layers: [8, 6, 5, 3], activation: "leaky-relu"),
            Network(layers: [8, 6, 4, 1], activation: "sigmoid"),
        ]

        static let learningRate = 0.5
        static let tolerance = 1e-4

        @Test(arguments: networks)
        func oneStepEqualsTheGradientStep(_ network: Network) async throws {
            let scratch = try ScratchDirectory("one-step")
            let data = LabelledData.synthetic(classes: network.layers.last!)
            let csv = try data.write(to: scratch.file("data.csv"))
            let initial = ModelWeights.random(layers: network.layers, activation: network.activation, seed: 11)
            let initPath = scratch.file("init.safetensors")
            try initial.write(to: initPath)
            let outPath = scratch.file("out.safetensors")

            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--init", initPath,
                    "--layers", network.layers.map(String.init).joined(separator: ","), "--activation",
                    network.activation,
                    "--batch", "0", "--steps", "1", "--lr", String(Self.learningRate), "--out", outPath,
                ], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")

            let trained = try ModelWeights.read(from: outPath)
            let expected = ReferenceNetwork(initial).sgdStep(data, learningRate: Self.learningRate)
            // The step must move the weights well beyond the tolerance, or agreement proves nothing.
            #expect(expected.maxDifference(from: initial) > 10 * Self.tolerance)
            let error = trained.maxDifference(from: expected)
            #expect(error <= Self.tolerance, "max |W_out − (W − α·dW)| = \(error)")
            #expect(trained.metadata["step"] == "1")
            #expect(trained.metadata["activation"] == network.activation)
            #expect(trained.metadata["output"] == (network.layers.last == 1 ? "sigmoid" : "softmax"))

            guard
                let numpy = try await Self.numpyStep(csv: csv, initPath: initPath, layers: network.layers, in: scratch)
            else { return }
            let numpyError = trained.maxDifference(from: numpy)
            #expect(numpyError <= Self.tolerance, "max |W_out − numpy's step| = \(numpyError)")
            // The two oracles, both Float64, must agree far more closely than with the binary.
            #expect(numpy.maxDifference(from: expected) <= 1e-9)
        }

        /// numpy's weights after the step, or nil (with a message) when numpy is not installed.
        static func numpyStep(csv: String, initPath: String, layers: [Int], in scratch: ScratchDirectory) async throws
            -> ModelWeights?
        {
            let probe = try await LaunchedProcess.run(
                "/usr/bin/env", ["python3", "-c", "import numpy"], in: scratch, timeout: .seconds(30))
            guard probe.succeeded else {
                print(
                    "OneStepTests: python3 with numpy is not available; skipping the numpy cross-check (\(probe.stderrLines.last ?? "no output"))"
                )
                return nil
            }
            let script = Binaries.packageRoot.appendingPathComponent("Tests/EndToEndTests/Reference/one_step.py").path
            let run = try await LaunchedProcess.run(
                "/usr/bin/env", ["python3", script, csv, initPath, String(learningRate)], in: scratch,
                timeout: .seconds(60))
            try #require(run.succeeded, "\(run.transcript)")
            let json = try JSONLines.object(run.stdoutLines.last ?? "", source: "one_step.py's output")
            var weights: [[[Double]]] = [[]]
            var biases: [[Double]] = [[]]
            for l in 1..<layers.count {
                let w = try #require(json["W\(l)"] as? [[NSNumber]], "one_step.py printed no W\(l)")
                let b = try #require(json["b\(l)"] as? [NSNumber], "one_step.py printed no b\(l)")
                weights.append(w.map { $0.map(\.doubleValue) })
                biases.append(b.map(\.doubleValue))
            }
            return ModelWeights(layers: layers, activation: "", weights: weights, biases: biases)
        }
    }
}
