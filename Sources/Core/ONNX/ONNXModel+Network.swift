/// A Descent network as an ONNX graph: `input` [batch, n0] float32, then per layer a Gemm
/// (transB = 1 against W as the model file stores it, [n_l, n_{l−1}], plus b) and the hidden
/// activation, ending in Softmax (axis 1) or, for one output unit, Sigmoid: `probabilities`
/// [batch, nL], what `coordinator predict` prints for the same rows.
extension ONNXModel {
    /// The operator set the graph is written against, and the IR version that goes with it.
    public static let exportOpset = 17
    public static let exportIRVersion = 8

    /// Per-feature standardization a model may carry: x′ = (x − mean) / std, before the first
    /// layer (std has had its zeros replaced by 1 when the model was trained).
    public struct Standardization: Sendable, Equatable {
        /// The model file's tensors that hold it, each of shape [n0].
        public static let meanTensor = "standardize.mean"
        public static let stdTensor = "standardize.std"

        public var mean: [Float]
        public var std: [Float]

        public init(mean: [Float], std: [Float]) {
            self.mean = mean
            self.std = std
        }

        /// The standardization `file` carries for `inputs` features, or nil when it carries none.
        /// Only one of the pair, a shape other than [n0], or a value that is not finite (or a
        /// zero std) is refused, naming `path`.
        public static func read(from file: SafetensorsFile, inputs: Int, path: String) throws(ConfigurationError)
            -> Standardization?
        {
            let mean = file.tensors[meanTensor]
            let std = file.tensors[stdTensor]
            guard mean != nil || std != nil else { return nil }
            guard let mean, let std else {
                throw .modelMismatch(
                    file: path,
                    reason:
                        "has \(mean == nil ? stdTensor : meanTensor) without \(mean == nil ? meanTensor : stdTensor)")
            }
            for (name, tensor) in [(meanTensor, mean), (stdTensor, std)] {
                guard tensor.shape == [inputs] else {
                    throw .modelMismatch(
                        file: path,
                        reason: "\(name) has shape \(tensor.shape), the model's \(inputs) inputs need [\(inputs)]")
                }
                guard tensor.values.allSatisfy(\.isFinite) else {
                    throw .modelMismatch(file: path, reason: "\(name) holds NaN or infinite values")
                }
            }
            guard !std.values.contains(0) else {
                throw .modelMismatch(file: path, reason: "\(stdTensor) holds a zero (it would divide by it)")
            }
            return Standardization(mean: mean.values, std: std.values)
        }
    }

    /// The model (or checkpoint) in `file`, read from `path`, as an ONNX classifier; the
    /// standardization it carries, if any, comes first. Errors name `path`.
    public init(exporting file: SafetensorsFile, path: String) throws {
        var network = file
        network.tensors[Standardization.meanTensor] = nil
        network.tensors[Standardization.stdTensor] = nil
        let loaded = try ModelFile.decode(network, path: path)
        let standardization = try Standardization.read(from: file, inputs: loaded.shape.inputs, path: path)
        self.init(
            network: loaded.shape, parameters: loaded.parameters, standardization: standardization,
            metadata: file.metadata["step"].map { ["step": $0] } ?? [:])
    }

    /// The network `shape` with parameters `p`; `metadata` joins the layers, activation, output
    /// and standardization recorded in `metadata_props`.
    public init(
        network shape: NetworkShape, parameters p: ParameterBuffer, standardization: Standardization? = nil,
        metadata: [String: String] = [:]
    ) {
        var nodes: [Node] = []
        var initializers: [Initializer] = []
        var current = "input"
        if let standardization {
            let n0 = shape.inputs
            initializers += [
                Initializer(name: "standardize_mean", dims: [n0], values: standardization.mean),
                Initializer(name: "standardize_std", dims: [n0], values: standardization.std),
            ]
            nodes += [
                Node("Sub", name: "standardize_sub", inputs: ["input", "standardize_mean"], outputs: ["centered"]),
                Node(
                    "Div", name: "standardize_div", inputs: ["centered", "standardize_std"], outputs: ["standardized"]),
            ]
            current = "standardized"
        }
        for l in 1...shape.depth {
            let (rows, cols) = (shape.layers[l], shape.layers[l - 1])
            initializers += [
                Initializer(name: "W\(l)", dims: [rows, cols], values: Self.rowMajorWeight(p, layer: l)),
                Initializer(
                    name: "b\(l)", dims: [rows], values: Array(UnsafeBufferPointer(start: p.bias(l), count: rows))),
            ]
            nodes.append(
                Node(
                    "Gemm", name: "gemm\(l)", inputs: [current, "W\(l)", "b\(l)"], outputs: ["z\(l)"],
                    attributes: [.int("transB", 1)]))
            let last = l == shape.depth
            let output = last ? "probabilities" : "a\(l)"
            nodes.append(
                last
                    ? Self.outputNode(shape.output, input: "z\(l)", output: output)
                    : Self.activationNode(shape.activation, layer: l, output: output))
            current = output
        }

        var properties = metadata
        properties["layers"] = shape.layersText
        properties["activation"] = shape.activation.rawValue
        properties["output"] = shape.output.rawValue
        properties["standardized"] = standardization == nil ? "false" : "true"
        self.init(
            irVersion: Self.exportIRVersion, opsetVersion: Self.exportOpset, producerName: "descent",
            producerVersion: DescentVersion.text,
            docString: Self.docString(shape, standardized: standardization != nil),
            metadata: properties.keys.sorted().map { ($0, properties[$0] ?? "") }, graphName: "descent",
            nodes: nodes, initializers: initializers,
            inputs: [Value(name: "input", shape: [.symbolic("batch"), .fixed(shape.inputs)])],
            outputs: [Value(name: "probabilities", shape: [.symbolic("batch"), .fixed(shape.outputs)])])
    }

    /// g for hidden layer `l`, from `z{l}` to `output`.
    static func activationNode(_ activation: Activation, layer l: Int, output: String) -> Node {
        let input = "z\(l)"
        switch activation {
        case .relu: return Node("Relu", name: "relu\(l)", inputs: [input], outputs: [output])
        case .tanh: return Node("Tanh", name: "tanh\(l)", inputs: [input], outputs: [output])
        case .sigmoid: return Node("Sigmoid", name: "sigmoid\(l)", inputs: [input], outputs: [output])
        case .leakyRelu:
            return Node(
                "LeakyRelu", name: "leaky_relu\(l)", inputs: [input], outputs: [output],
                attributes: [.float("alpha", Activation.leakySlope)])
        }
    }

    /// The output layer: Softmax over the classes (axis 1), or Sigmoid for one unit.
    static func outputNode(_ output: OutputLayer, input: String, output name: String) -> Node {
        switch output {
        case .softmax:
            return Node("Softmax", name: "softmax", inputs: [input], outputs: [name], attributes: [.int("axis", 1)])
        case .sigmoid:
            return Node("Sigmoid", name: "sigmoid_output", inputs: [input], outputs: [name])
        }
    }

    /// W_l [n_l, n_{l−1}] row-major, as the model file stores it (the buffer holds it column-major).
    static func rowMajorWeight(_ p: ParameterBuffer, layer l: Int) -> [Float] {
        let (rows, cols) = (p.layout.shape.layers[l], p.layout.shape.layers[l - 1])
        let w = p.weight(l)
        var rowMajor = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols { rowMajor[i * cols + j] = w[i + j * rows] }
        }
        return rowMajor
    }

    static func docString(_ shape: NetworkShape, standardized: Bool) -> String {
        "A Descent fully-connected classifier: layers \(shape.layersText), \(shape.activation.rawValue) hidden layers, "
            + "\(shape.output.rawValue) output"
            + (standardized ? "; each input feature standardized first, (x − mean) / std." : ".")
    }
}
