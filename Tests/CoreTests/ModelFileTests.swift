import Foundation
import Testing

@testable import Core

/// A fresh directory for one test's model files, removed when the test ends.
private final class ModelDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "descent-model-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// A 5-4-3-3 tanh model, as the trainer would save it.
private func savedModel(in directory: ModelDirectory) throws -> (path: String, file: SafetensorsFile) {
    let p = try TestNetworks.randomParameters(NetworkShape(layers: [5, 4, 3, 3], activation: .tanh), seed: 4)
    let path = directory.file("model.safetensors")
    try ModelFile.save(p, to: path, step: 12)
    return (path, try SafetensorsFile.read(from: path))
}

/// One way a model file can disagree with itself.
enum ModelCorruption: String, CaseIterable, Sendable {
    case transposedWeight, wrongWeightShape, wrongBiasShape, biasAsMatrix
    case missingWeight, missingBias, extraLayerTensor, extraForeignTensor
    case nanWeight, infiniteBias, negativeInfiniteWeight
    case layersClaimFewerLayers, layersClaimMoreOutputs, noLayers, unknownActivation, unparsableLayers

    func apply(to file: inout SafetensorsFile) {
        typealias Tensor = SafetensorsFile.Tensor
        switch self {
        case .transposedWeight: file.tensors["W1"]!.shape = [5, 4]
        case .wrongWeightShape: file.tensors["W2"] = Tensor(shape: [3, 5], values: Array(repeating: 0.5, count: 15))
        case .wrongBiasShape: file.tensors["b1"] = Tensor(shape: [5], values: Array(repeating: 0, count: 5))
        case .biasAsMatrix: file.tensors["b3"]!.shape = [3, 1]
        case .missingWeight: file.tensors["W2"] = nil
        case .missingBias: file.tensors["b3"] = nil
        case .extraLayerTensor: file.tensors["W4"] = Tensor(shape: [2, 3], values: Array(repeating: 1, count: 6))
        case .extraForeignTensor: file.tensors["momentum"] = Tensor(shape: [1], values: [0])
        case .nanWeight: file.tensors["W2"]!.values[5] = .nan
        case .infiniteBias: file.tensors["b1"]!.values[0] = .infinity
        case .negativeInfiniteWeight: file.tensors["W3"]!.values[8] = -.infinity
        case .layersClaimFewerLayers: file.metadata["layers"] = "5,4,3"
        case .layersClaimMoreOutputs: file.metadata["layers"] = "5,4,3,4"
        case .noLayers: file.metadata["layers"] = nil
        case .unknownActivation: file.metadata["activation"] = "swish"
        case .unparsableLayers: file.metadata["layers"] = "5,four,3,3"
        }
    }

    /// A word the error's reason must contain, so the message points at the culprit.
    var culprit: String {
        switch self {
        case .transposedWeight: return "W1"
        case .wrongBiasShape: return "b1"
        case .wrongWeightShape, .missingWeight: return "W2"
        case .biasAsMatrix, .missingBias: return "b3"
        case .extraLayerTensor: return "W4"
        case .extraForeignTensor: return "momentum"
        case .nanWeight, .infiniteBias, .negativeInfiniteWeight: return "NaN or infinite"
        case .layersClaimFewerLayers: return "W3"
        case .layersClaimMoreOutputs: return "[4, 3]"
        case .noLayers: return "layers"
        case .unknownActivation: return "swish"
        case .unparsableLayers: return "four"
        }
    }
}

@Suite struct ModelFileTests {
    @Test(arguments: [
        ([5, 4, 3, 3], Activation.tanh), ([6, 5, 4, 1], .sigmoid), ([4, 3], .leakyRelu), ([3, 7, 2], .relu),
    ])
    func saveThenLoadRoundTripsEveryBit(layers: [Int], activation: Activation) throws {
        let directory = try ModelDirectory()
        let shape = try NetworkShape(layers: layers, activation: activation)
        let p = TestNetworks.randomParameters(shape, seed: 21)
        // Values a lossy path would spoil: signed zero, a subnormal, the extremes.
        p.values[0] = -0.0
        p.values[1] = .leastNonzeroMagnitude
        p.values[p.count - 1] = -.greatestFiniteMagnitude
        let path = directory.file("m.safetensors")
        try ModelFile.save(p, to: path, step: 345, extraMetadata: ["dataset": "synthetic"])

        let loaded = try ModelFile.load(path)
        #expect(loaded.shape == shape)
        #expect(TestNetworks.bits(loaded.parameters) == TestNetworks.bits(p))
        #expect(loaded.metadata["step"] == "345")
        #expect(loaded.metadata["dataset"] == "synthetic")
        #expect(loaded.metadata["layers"] == layers.map(String.init).joined(separator: ","))
        #expect(loaded.metadata["activation"] == activation.rawValue)
        #expect(loaded.metadata["output"] == (layers.last == 1 ? "sigmoid" : "softmax"))
    }

    /// On disk W[l] is row-major [n_l, n_{l−1}], the transpose of its column-major memory.
    @Test func weightsAreStoredRowMajor() throws {
        let directory = try ModelDirectory()
        let p = try TestNetworks.randomParameters(NetworkShape(layers: [3, 2], activation: .relu), seed: 1)
        let w = p.weight(1)
        let path = directory.file("m.safetensors")
        try ModelFile.save(p, to: path, step: 0)
        let file = try SafetensorsFile.read(from: path)
        #expect(Set(file.tensors.keys) == ["W1", "b1"])
        #expect(file.tensors["W1"]?.shape == [2, 3])
        // (i, j) is at i·cols + j on disk and at i + j·rows in memory.
        #expect(file.tensors["W1"]?.values == [w[0], w[2], w[4], w[1], w[3], w[5]])
        #expect(file.tensors["b1"] == SafetensorsFile.Tensor(shape: [2], values: [p.bias(1)[0], p.bias(1)[1]]))
    }

    @Test(arguments: ModelCorruption.allCases)
    func inconsistentModelsAreRejected(corruption: ModelCorruption) throws {
        let directory = try ModelDirectory()
        var (path, file) = try savedModel(in: directory)
        #expect(throws: Never.self) { try ModelFile.load(path) }
        corruption.apply(to: &file)
        try file.write(to: path)

        let error = #expect(throws: ConfigurationError.self) { try ModelFile.load(path) }
        guard case .modelMismatch(let named, let reason) = error else {
            Issue.record("expected .modelMismatch, got \(String(describing: error))")
            return
        }
        #expect(named == path)
        #expect(reason.contains(corruption.culprit), "reason: \(reason)")
    }

    @Test func missingFileIsAnError() throws {
        let directory = try ModelDirectory()
        #expect(throws: (any Error).self) { try ModelFile.load(directory.file("absent.safetensors")) }
    }
}
