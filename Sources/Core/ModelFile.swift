/// A model on disk: safetensors with W1…WL `[n_l, n_{l−1}]` and b1…bL `[n_l]`, F32, row-major,
/// and `__metadata__` holding `layers`, `activation`, `output` and `step`; a model trained with
/// `--standardize` also holds `standardize.mean` and `standardize.std`, `[n0]` (`Standardization`).
///
/// Weights are column-major in memory, so they are transposed here, at the file boundary only.
public enum ModelFile {
    public struct Loaded {
        public let shape: NetworkShape
        public let parameters: ParameterBuffer
        public let metadata: [String: String]
        /// The input standardization the model was trained with, if any.
        public let standardization: Standardization?
    }

    /// Writes W, b (and the standardization) atomically (nothing is left half-written on failure).
    public static func save(
        _ p: ParameterBuffer, to path: String, step: Int, extraMetadata: [String: String] = [:],
        standardization: Standardization? = nil
    ) throws {
        try encode(p, step: step, extraMetadata: extraMetadata, standardization: standardization).write(to: path)
    }

    /// W, b, the standardization and the contract's metadata as a safetensors file, not yet written.
    public static func encode(
        _ p: ParameterBuffer, step: Int, extraMetadata: [String: String] = [:],
        standardization: Standardization? = nil
    ) -> SafetensorsFile {
        let shape = p.layout.shape
        var tensors: [String: SafetensorsFile.Tensor] = [:]
        for l in 1...shape.depth {
            let rows = shape.layers[l]
            let cols = shape.layers[l - 1]
            let w = p.weight(l)
            var rowMajor = [Float](repeating: 0, count: rows * cols)
            for i in 0..<rows {
                for j in 0..<cols { rowMajor[i * cols + j] = w[i + j * rows] }
            }
            tensors["W\(l)"] = SafetensorsFile.Tensor(shape: [rows, cols], values: rowMajor)
            tensors["b\(l)"] = SafetensorsFile.Tensor(
                shape: [rows], values: Array(UnsafeBufferPointer(start: p.bias(l), count: rows)))
        }
        if let standardization {
            precondition(standardization.featureCount == shape.inputs, "standardization for another input layer")
            tensors.merge(standardization.tensors) { _, new in new }
        }
        var metadata = extraMetadata
        metadata["layers"] = shape.layersText
        metadata["activation"] = shape.activation.rawValue
        metadata["output"] = shape.output.rawValue
        metadata["step"] = String(step)
        return SafetensorsFile(tensors: tensors, metadata: metadata)
    }

    /// Reads a model and checks that its tensors are exactly those its `layers` metadata implies.
    public static func load(_ path: String) throws -> Loaded {
        try decode(SafetensorsFile.read(from: path), path: path)
    }

    /// Tensors whose names start with this belong to a checkpoint's optimizer, not to the model.
    public static let optimizerPrefix = "optimizer."

    /// The model in a safetensors file read from `path`.
    public static func decode(_ file: SafetensorsFile, path: String) throws -> Loaded {
        let shape = try shape(of: file, path: path)
        let layersText = file.metadata["layers"] ?? shape.layersText
        let p = ParameterBuffer(layout: ParameterLayout(shape: shape))
        let expected = Set(
            (1...shape.depth).flatMap { ["W\($0)", "b\($0)"] } + [
                Standardization.meanTensor, Standardization.stdTensor,
            ])
        let modelTensors = file.tensors.keys.filter { !$0.hasPrefix(optimizerPrefix) }
        if let extra = Set(modelTensors).subtracting(expected).sorted().first {
            throw ConfigurationError.modelMismatch(
                file: path, reason: "unexpected tensor '\(extra)' for layers \(layersText)")
        }
        for l in 1...shape.depth {
            let rows = shape.layers[l]
            let cols = shape.layers[l - 1]
            guard let w = file.tensors["W\(l)"] else {
                throw ConfigurationError.modelMismatch(file: path, reason: "missing tensor W\(l)")
            }
            guard w.shape == [rows, cols] else {
                throw ConfigurationError.modelMismatch(
                    file: path, reason: "W\(l) has shape \(w.shape), layers \(layersText) need [\(rows), \(cols)]")
            }
            guard let b = file.tensors["b\(l)"] else {
                throw ConfigurationError.modelMismatch(file: path, reason: "missing tensor b\(l)")
            }
            guard b.shape == [rows] else {
                throw ConfigurationError.modelMismatch(
                    file: path, reason: "b\(l) has shape \(b.shape), layers \(layersText) need [\(rows)]")
            }
            let dst = p.weight(l)
            for i in 0..<rows {
                for j in 0..<cols { dst[i + j * rows] = w.values[i * cols + j] }
            }
            b.values.withUnsafeBufferPointer { p.bias(l).update(from: $0.baseAddress!, count: rows) }
        }
        guard p.isFinite else {
            throw ConfigurationError.modelMismatch(file: path, reason: "holds NaN or infinite values")
        }
        let standardization = try Standardization.read(from: file.tensors, features: shape.inputs, path: path)
        return Loaded(shape: shape, parameters: p, metadata: file.metadata, standardization: standardization)
    }

    /// The network `file`'s `__metadata__` describes: layers, activation, and an output that fits.
    private static func shape(of file: SafetensorsFile, path: String) throws -> NetworkShape {
        guard let layersText = file.metadata["layers"] else {
            throw ConfigurationError.modelMismatch(
                file: path, reason: "no 'layers' in __metadata__ (expected e.g. \"784,256,128,10\")")
        }
        guard let activationName = file.metadata["activation"], let activation = Activation(rawValue: activationName)
        else {
            throw ConfigurationError.modelMismatch(
                file: path,
                reason:
                    "__metadata__ activation '\(file.metadata["activation"] ?? "missing")' is not one of \(Activation.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        let shape: NetworkShape
        do {
            shape = try NetworkShape(parsing: layersText, activation: activation)
        } catch {
            throw ConfigurationError.modelMismatch(file: path, reason: "__metadata__ layers: \(error)")
        }
        if let output = file.metadata["output"], output != shape.output.rawValue {
            throw ConfigurationError.modelMismatch(
                file: path,
                reason:
                    "__metadata__ output '\(output)' does not fit layers \(layersText) (expected '\(shape.output.rawValue)')"
            )
        }
        return shape
    }
}
