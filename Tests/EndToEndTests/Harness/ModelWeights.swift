import Core
import Foundation

/// A network's weights as the contract's safetensors file holds them, widened to Float64:
/// W[l] is (n_l, n_{l−1}) with `weights[l][i][k]`, b[l] is (n_l); index 0 is unused.
struct ModelWeights {
    var layers: [Int]
    /// The hidden activation's contract name: relu, tanh, sigmoid, leaky-relu.
    var activation: String
    var weights: [[[Double]]]
    var biases: [[Double]]
    var metadata: [String: String] = [:]

    var depth: Int { layers.count - 1 }

    /// Weights uniform in ±√(3/n_{l−1}) and biases in ±0.1, every value a Float32 so the file
    /// holds exactly what the references compute with.
    static func random(layers: [Int], activation: String, seed: UInt64) -> ModelWeights {
        var rng = SplitMix64(seed: seed)
        var weights: [[[Double]]] = [[]]
        var biases: [[Double]] = [[]]
        for l in 1..<layers.count {
            let limit = (3.0 / Double(layers[l - 1])).squareRoot()
            weights.append(
                (0..<layers[l]).map { _ in
                    (0..<layers[l - 1]).map { _ in Double(Float(Double.random(in: -limit...limit, using: &rng))) }
                })
            biases.append((0..<layers[l]).map { _ in Double(Float(Double.random(in: -0.1...0.1, using: &rng))) })
        }
        return ModelWeights(layers: layers, activation: activation, weights: weights, biases: biases)
    }

    /// The file: W1…WL row-major `[n_l, n_{l−1}]`, b1…bL, and layers/activation/output/step.
    func write(to path: String, step: Int = 0) throws {
        var tensors: [String: SafetensorsFile.Tensor] = [:]
        for l in 1...depth {
            tensors["W\(l)"] = .init(
                shape: [layers[l], layers[l - 1]], values: weights[l].flatMap { $0.map(Float.init) })
            tensors["b\(l)"] = .init(shape: [layers[l]], values: biases[l].map(Float.init))
        }
        let metadata = [
            "layers": layers.map(String.init).joined(separator: ","),
            "activation": activation,
            "output": layers.last == 1 ? "sigmoid" : "softmax",
            "step": String(step),
        ]
        try SafetensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }

    /// Reads a model file the way an outside checker would: by tensor name and shape.
    static func read(from path: String) throws -> ModelWeights {
        let file = try SafetensorsFile.read(from: path)
        guard let layersText = file.metadata["layers"] else {
            throw HarnessError.malformedOutput("\(path): no layers in __metadata__")
        }
        let layers = layersText.split(separator: ",").compactMap { Int($0) }
        var weights: [[[Double]]] = [[]]
        var biases: [[Double]] = [[]]
        for l in 1..<layers.count {
            let (rows, cols) = (layers[l], layers[l - 1])
            guard let w = file.tensors["W\(l)"], w.shape == [rows, cols],
                let b = file.tensors["b\(l)"], b.shape == [rows]
            else {
                throw HarnessError.malformedOutput("\(path): W\(l)/b\(l) missing or not [\(rows), \(cols)]/[\(rows)]")
            }
            weights.append((0..<rows).map { i in (0..<cols).map { k in Double(w.values[i * cols + k]) } })
            biases.append(b.values.map(Double.init))
        }
        return ModelWeights(
            layers: layers, activation: file.metadata["activation"] ?? "", weights: weights, biases: biases,
            metadata: file.metadata)
    }

    /// max over every W and b value of |self − other|.
    func maxDifference(from other: ModelWeights) -> Double {
        var largest = 0.0
        for l in 1...depth {
            for (row, otherRow) in zip(weights[l], other.weights[l]) {
                for (a, b) in zip(row, otherRow) { largest = max(largest, abs(a - b)) }
            }
            for (a, b) in zip(biases[l], other.biases[l]) { largest = max(largest, abs(a - b)) }
        }
        return largest
    }

    /// max |value| over every W and b.
    var maxMagnitude: Double {
        (1...depth).reduce(0.0) { largest, l in
            max(largest, weights[l].flatMap { $0 }.map(abs).max() ?? 0, biases[l].map(abs).max() ?? 0)
        }
    }
}
