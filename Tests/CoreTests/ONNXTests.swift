import Testing

@testable import Core

/// A protobuf message read back field by field: just enough to check what `ProtobufWriter` and
/// `ONNXModel` write, independently of them.
private struct Fields {
    enum Value: Equatable {
        case varint(UInt64)
        case fixed32(UInt32)
        case bytes([UInt8])
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    var fields: [(number: Int, value: Value)] = []

    init(_ bytes: [UInt8]) throws {
        var index = 0
        func varint() throws -> UInt64 {
            var (value, shift) = (UInt64(0), UInt64(0))
            while true {
                guard index < bytes.count, shift < 64 else {
                    throw Malformed(description: "varint runs off at \(index)")
                }
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while index < bytes.count {
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: fields.append((number, .varint(try varint())))
            case 2:
                let length = Int(try varint())
                guard index + length <= bytes.count else { throw Malformed(description: "field \(number) too long") }
                fields.append((number, .bytes(Array(bytes[index..<index + length]))))
                index += length
            case 5:
                guard index + 4 <= bytes.count else { throw Malformed(description: "fixed32 runs off") }
                let bits = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[index + $1]) << (8 * UInt32($1)) }
                fields.append((number, .fixed32(bits)))
                index += 4
            default: throw Malformed(description: "wire type \(key & 7) in field \(number)")
            }
        }
    }

    func varints(_ number: Int) -> [UInt64] {
        fields.compactMap { field in
            guard field.number == number, case .varint(let value) = field.value else { return nil }
            return value
        }
    }

    func raw(_ number: Int) -> [[UInt8]] {
        fields.compactMap { field in
            guard field.number == number, case .bytes(let bytes) = field.value else { return nil }
            return bytes
        }
    }

    func strings(_ number: Int) -> [String] { raw(number).map { String(decoding: $0, as: UTF8.self) } }

    func messages(_ number: Int) throws -> [Fields] { try raw(number).map(Fields.init) }

    func floats(_ number: Int) -> [Float] {
        fields.compactMap { field in
            guard field.number == number, case .fixed32(let bits) = field.value else { return nil }
            return Float(bitPattern: bits)
        }
    }
}

@Suite("Protobuf writer")
struct ProtobufWriterTests {
    private func written(_ write: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var writer = ProtobufWriter()
        write(&writer)
        return writer.bytes
    }

    /// Known encodings: one byte up to 127, 300 → AC 02 (protobuf's own example), ten bytes for 2⁶⁴ − 1.
    static let knownVarints: [(value: UInt64, bytes: [UInt8])] = [
        (0, [0x00]), (1, [0x01]), (127, [0x7F]), (128, [0x80, 0x01]), (300, [0xAC, 0x02]),
        (16_384, [0x80, 0x80, 0x01]), (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test func varintsOfKnownValues() {
        for known in Self.knownVarints {
            #expect(written { $0.varint(known.value) } == known.bytes, "\(known.value)")
        }
    }

    @Test func int64FieldsAreTwosComplementVarints() {
        #expect(written { $0.int64(1, 8) } == [0x08, 0x08])
        #expect(written { $0.int64(1, -1) } == [0x08] + Array(repeating: 0xFF, count: 9) + [0x01])
        #expect(written { $0.int64(3, -2) } == [0x18, 0xFE] + Array(repeating: 0xFF, count: 8) + [0x01])
        // Field 20 (AttributeProto.type) needs a two-byte key: 20 << 3 = 160 → A0 01.
        #expect(written { $0.int64(20, 2) } == [0xA0, 0x01, 0x02])
    }

    @Test func floatsAreLittleEndianFixed32() {
        #expect(written { $0.float(2, 1) } == [0x15, 0x00, 0x00, 0x80, 0x3F])
        #expect(written { $0.float(2, 0.01) } == [0x15, 0x0A, 0xD7, 0x23, 0x3C])
        #expect(ProtobufWriter.littleEndian([1, -2]) == [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
        #expect(
            written { $0.packedFloats(4, [1, -2]) } == [0x22, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
    }

    @Test func stringsAndMessagesAreLengthDelimited() {
        #expect(written { $0.string(2, "descent") } == [0x12, 0x07] + Array("descent".utf8))
        #expect(written { $0.string(1, "") } == [0x0A, 0x00])
        let nested = written { outer in outer.message(8) { $0.int64(2, 17) } }
        #expect(nested == [0x42, 0x02, 0x10, 0x11])
        let long = String(repeating: "x", count: 200)
        #expect(written { $0.string(1, long) }.prefix(3) == [0x0A, 0xC8, 0x01])
    }
}

@Suite("ONNX export")
struct ONNXTests {
    typealias Tensor = SafetensorsFile.Tensor

    /// The graph's nodes as (op_type, inputs, outputs, attributes by name).
    private func nodes(_ graph: Fields) throws -> [(
        op: String, inputs: [String], outputs: [String], attributes: [String: Fields]
    )] {
        try graph.messages(1).map { node in
            var attributes: [String: Fields] = [:]
            for attribute in try node.messages(5) { attributes[attribute.strings(1).first ?? ""] = attribute }
            return (node.strings(4).first ?? "", node.strings(1), node.strings(2), attributes)
        }
    }

    /// A value's name and its dims: dim_value as a number, dim_param as its name.
    private func value(_ info: Fields) throws -> (name: String, dims: [String]) {
        let tensorType = try #require(try info.messages(2).first?.messages(1).first)
        #expect(tensorType.varints(1) == [1], "elem_type FLOAT")
        let shape = try #require(try tensorType.messages(2).first)
        let dims = try shape.messages(1).map { dim in dim.strings(2).first ?? dim.varints(1).map(String.init).joined() }
        return (info.strings(1).first ?? "", dims)
    }

    @Test func theModelHoldsHeaderGraphAndWeightsAsStored() throws {
        let shape = try NetworkShape(layers: [5, 4, 3, 3], activation: .tanh)
        let p = TestNetworks.randomParameters(shape, seed: 9)
        let standardization = ONNXModel.Standardization(mean: [0, 1, 2, 3, 4], std: [1, 2, 1, 0.5, 4])
        let model = try Fields(ONNXModel(network: shape, parameters: p, standardization: standardization).serialized())

        #expect(model.varints(1) == [UInt64(ONNXModel.exportIRVersion)])
        #expect(model.strings(2) == ["descent"])
        #expect(model.strings(3) == [DescentVersion.text])
        #expect(model.strings(6).first?.contains("5,4,3,3") == true)
        let opset = try #require(try model.messages(8).first)
        #expect(opset.varints(2) == [17] && opset.strings(1).allSatisfy(\.isEmpty))
        var properties: [String: String] = [:]
        for entry in try model.messages(14) { properties[entry.strings(1).first ?? ""] = entry.strings(2).first }
        #expect(properties["layers"] == "5,4,3,3" && properties["activation"] == "tanh")
        #expect(properties["output"] == "softmax" && properties["standardized"] == "true")

        let graph = try #require(try model.messages(7).first)
        let nodes = try nodes(graph)
        #expect(nodes.map(\.op) == ["Sub", "Div", "Gemm", "Tanh", "Gemm", "Tanh", "Gemm", "Softmax"])
        #expect(
            nodes[0].inputs == ["input", "standardize_mean"] && nodes[1].inputs == ["centered", "standardize_std"])
        #expect(nodes[2].inputs == ["standardized", "W1", "b1"] && nodes[6].inputs == ["a2", "W3", "b3"])
        #expect(nodes.last?.outputs == ["probabilities"])
        for gemm in nodes where gemm.op == "Gemm" {
            #expect(gemm.attributes["transB"]?.varints(3) == [1] && gemm.attributes["transB"]?.varints(20) == [2])
        }
        #expect(nodes.last?.attributes["axis"]?.varints(3) == [1])
        // Every value a node reads is the input, an initializer or an earlier node's output.
        var known: Set<String> = ["input"]
        let initializers = try graph.messages(5)
        known.formUnion(initializers.flatMap { $0.strings(8) })
        for node in nodes {
            #expect(node.inputs.allSatisfy(known.contains), "\(node.op) reads \(node.inputs)")
            known.formUnion(node.outputs)
        }

        let stored = ModelFile.encode(p, step: 0).tensors
        var byName: [String: Fields] = [:]
        for initializer in initializers { byName[initializer.strings(8).first ?? ""] = initializer }
        #expect(Set(byName.keys) == ["standardize_mean", "standardize_std", "W1", "b1", "W2", "b2", "W3", "b3"])
        for (name, tensor) in stored {
            let initializer = try #require(byName[name])
            #expect(initializer.varints(1).map(Int.init) == tensor.shape, "\(name) dims")
            #expect(initializer.varints(2) == [1], "\(name) data_type")
            #expect(initializer.raw(9) == [ProtobufWriter.littleEndian(tensor.values)], "\(name) raw_data")
        }
        #expect(byName["standardize_std"]?.raw(9) == [ProtobufWriter.littleEndian(standardization.std)])

        let input = try value(try #require(try graph.messages(11).first))
        let output = try value(try #require(try graph.messages(12).first))
        #expect(input.name == "input" && input.dims == ["batch", "5"])
        #expect(output.name == "probabilities" && output.dims == ["batch", "3"])
    }

    @Test func aOneUnitOutputEndsInSigmoidAndLeakyReluCarriesItsSlope() throws {
        let shape = try NetworkShape(layers: [3, 4, 1], activation: .leakyRelu)
        let bytes = ONNXModel(network: shape, parameters: TestNetworks.randomParameters(shape, seed: 2)).serialized()
        let graph = try #require(try Fields(bytes).messages(7).first)
        let nodes = try nodes(graph)
        #expect(nodes.map(\.op) == ["Gemm", "LeakyRelu", "Gemm", "Sigmoid"])
        #expect(nodes[0].inputs == ["input", "W1", "b1"])
        let alpha = try #require(nodes[1].attributes["alpha"])
        #expect(alpha.floats(2) == [Activation.leakySlope] && alpha.varints(20) == [1])
        #expect(try value(try #require(try graph.messages(12).first)).dims == ["batch", "1"])
    }

    @Test(arguments: [(Activation.relu, "Relu"), (.tanh, "Tanh"), (.sigmoid, "Sigmoid"), (.leakyRelu, "LeakyRelu")])
    func eachActivationHasItsOperator(activation: Activation, op: String) throws {
        let shape = try NetworkShape(layers: [2, 3, 3, 2], activation: activation)
        let bytes = ONNXModel(network: shape, parameters: TestNetworks.randomParameters(shape, seed: 1)).serialized()
        let nodes = try nodes(try #require(try Fields(bytes).messages(7).first))
        #expect(nodes.map(\.op) == ["Gemm", op, "Gemm", op, "Gemm", "Softmax"])
    }

    /// A model file as `train` writes it, with or without the standardization tensors.
    private func modelFile(standardize: [String: Tensor] = [:]) throws -> SafetensorsFile {
        let shape = try NetworkShape(layers: [3, 4, 2], activation: .relu)
        var file = ModelFile.encode(TestNetworks.randomParameters(shape, seed: 5), step: 7)
        file.tensors.merge(standardize) { $1 }
        return file
    }

    @Test func aFileWithStandardizationExportsItFirst() throws {
        let file = try modelFile(standardize: [
            "standardize.mean": Tensor(shape: [3], values: [0.5, -1, 2]),
            "standardize.std": Tensor(shape: [3], values: [1, 3, 0.25]),
        ])
        let loaded = try ModelFile.decode(file, path: "m.safetensors")
        #expect(loaded.standardization?.mean == [0.5, -1, 2] && loaded.standardization?.std == [1, 3, 0.25])
        let model = try ONNXModel(exporting: file, path: "m.safetensors")
        #expect(model.nodes.map(\.opType) == ["Sub", "Div", "Gemm", "Relu", "Gemm", "Softmax"])
        #expect(model.initializers.first { $0.name == "standardize_mean" }?.values == [0.5, -1, 2])
        #expect(model.metadata.contains { $0 == ("step", "7") })

        let plain = try ONNXModel(exporting: try modelFile(), path: "m.safetensors")
        #expect(plain.nodes.first?.opType == "Gemm" && plain.nodes.first?.inputs.first == "input")
    }

    @Test func badStandardizationIsRefusedNamingTheFile() throws {
        let cases: [([String: Tensor], String)] = [
            (["standardize.mean": Tensor(shape: [3], values: [0, 0, 0])], "standardize.std"),
            (
                [
                    "standardize.mean": Tensor(shape: [3], values: [0, 0, 0]),
                    "standardize.std": Tensor(shape: [4], values: [1, 1, 1, 1]),
                ], "[3]"
            ),
            (
                [
                    "standardize.mean": Tensor(shape: [3], values: [0, .nan, 0]),
                    "standardize.std": Tensor(shape: [3], values: [1, 1, 1]),
                ], "NaN"
            ),
            (
                [
                    "standardize.mean": Tensor(shape: [3], values: [0, 0, 0]),
                    "standardize.std": Tensor(shape: [3], values: [1, 0, 1]),
                ], "zero"
            ),
            (["standardise.mean": Tensor(shape: [3], values: [0, 0, 0])], "standardise.mean"),
        ]
        for (tensors, culprit) in cases {
            let file = try modelFile(standardize: tensors)
            do {
                _ = try ONNXModel(exporting: file, path: "bad.safetensors")
                Issue.record("\(tensors.keys.sorted()) was exported")
            } catch {
                let message = "\(error)"
                #expect(message.contains("bad.safetensors") && message.contains(culprit), "\(message)")
            }
        }
    }
}
