/// An ONNX model as far as Descent writes one: one graph of nodes over float32 tensors, with its
/// weights as initializers, serialized to the protobuf bytes of `onnx.proto`'s `ModelProto`.
///
/// Field numbers are `onnx.proto`'s (onnx 1.x); only the fields set here are written.
public struct ONNXModel: Sendable {
    /// A named float32 constant: a weight, a bias, a standardization vector.
    public struct Initializer: Sendable, Equatable {
        public var name: String
        public var dims: [Int]
        /// Row-major (the last dimension varies fastest).
        public var values: [Float]

        public init(name: String, dims: [Int], values: [Float]) {
            self.name = name
            self.dims = dims
            self.values = values
        }
    }

    /// A node attribute: the only kinds Descent's graphs use.
    public enum Attribute: Sendable, Equatable {
        case int(String, Int64)
        case float(String, Float)
    }

    /// One operator application.
    public struct Node: Sendable, Equatable {
        public var opType: String
        public var name: String
        public var inputs: [String]
        public var outputs: [String]
        public var attributes: [Attribute]

        public init(_ opType: String, name: String, inputs: [String], outputs: [String], attributes: [Attribute] = []) {
            self.opType = opType
            self.name = name
            self.inputs = inputs
            self.outputs = outputs
            self.attributes = attributes
        }
    }

    /// One dimension of a graph input's or output's shape.
    public enum Dimension: Sendable, Equatable {
        case fixed(Int)
        /// A size known only when the model runs, such as the batch.
        case symbolic(String)
    }

    /// A graph input or output: a float32 tensor of the given shape.
    public struct Value: Sendable, Equatable {
        public var name: String
        public var shape: [Dimension]

        public init(name: String, shape: [Dimension]) {
            self.name = name
            self.shape = shape
        }
    }

    public var irVersion: Int
    public var opsetVersion: Int
    public var producerName: String
    public var producerVersion: String
    public var docString: String
    /// `metadata_props`, written in this order.
    public var metadata: [(key: String, value: String)]
    public var graphName: String
    public var nodes: [Node]
    public var initializers: [Initializer]
    public var inputs: [Value]
    public var outputs: [Value]

    public init(
        irVersion: Int, opsetVersion: Int, producerName: String, producerVersion: String, docString: String,
        metadata: [(key: String, value: String)], graphName: String, nodes: [Node], initializers: [Initializer],
        inputs: [Value], outputs: [Value]
    ) {
        self.irVersion = irVersion
        self.opsetVersion = opsetVersion
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.docString = docString
        self.metadata = metadata
        self.graphName = graphName
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
    }

    /// `TensorProto.DataType.FLOAT`.
    static let float32 = 1

    /// The `ModelProto` bytes, as a `.onnx` file holds them.
    public func serialized() -> [UInt8] {
        var writer = ProtobufWriter()
        writer.int64(1, Int64(irVersion)) // ir_version
        writer.string(2, producerName) // producer_name
        writer.string(3, producerVersion) // producer_version
        writer.string(6, docString) // doc_string
        writer.message(7) { writeGraph(into: &$0) } // graph
        writer.message(8) { $0.int64(2, Int64(opsetVersion)) } // opset_import: the default domain ""
        for entry in metadata { // metadata_props
            writer.message(14) {
                $0.string(1, entry.key)
                $0.string(2, entry.value)
            }
        }
        return writer.bytes
    }

    /// `GraphProto`: node = 1, name = 2, initializer = 5, input = 11, output = 12.
    private func writeGraph(into graph: inout ProtobufWriter) {
        for node in nodes { graph.message(1) { Self.write(node, into: &$0) } }
        graph.string(2, graphName)
        for initializer in initializers { graph.message(5) { Self.write(initializer, into: &$0) } }
        for input in inputs { graph.message(11) { Self.write(input, into: &$0) } }
        for output in outputs { graph.message(12) { Self.write(output, into: &$0) } }
    }

    /// `NodeProto`: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
    private static func write(_ node: Node, into message: inout ProtobufWriter) {
        for input in node.inputs { message.string(1, input) }
        for output in node.outputs { message.string(2, output) }
        message.string(3, node.name)
        message.string(4, node.opType)
        for attribute in node.attributes {
            // AttributeProto: name = 1, f = 2, i = 3, type = 20 (FLOAT = 1, INT = 2).
            message.message(5) {
                switch attribute {
                case .float(let name, let value):
                    $0.string(1, name)
                    $0.float(2, value)
                    $0.int64(20, 1)
                case .int(let name, let value):
                    $0.string(1, name)
                    $0.int64(3, value)
                    $0.int64(20, 2)
                }
            }
        }
    }

    /// `TensorProto`: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian float32).
    private static func write(_ initializer: Initializer, into message: inout ProtobufWriter) {
        for dimension in initializer.dims { message.int64(1, Int64(dimension)) }
        message.int64(2, Int64(float32))
        message.string(8, initializer.name)
        message.bytes(9, ProtobufWriter.littleEndian(initializer.values))
    }

    /// `ValueInfoProto` (name = 1, type = 2) holding `TypeProto.tensor_type` (1): elem_type = 1 and
    /// shape = 2, whose `dim`s (1) are a dim_value (1) or a dim_param (2).
    private static func write(_ value: Value, into message: inout ProtobufWriter) {
        message.string(1, value.name)
        message.message(2) { type in
            type.message(1) { tensor in
                tensor.int64(1, Int64(float32))
                tensor.message(2) { shape in
                    for dimension in value.shape {
                        shape.message(1) {
                            switch dimension {
                            case .fixed(let size): $0.int64(1, Int64(size))
                            case .symbolic(let name): $0.string(2, name)
                            }
                        }
                    }
                }
            }
        }
    }
}
