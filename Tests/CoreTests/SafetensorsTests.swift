import Foundation
import Testing

@testable import Core

private typealias Tensor = SafetensorsFile.Tensor

/// A fresh directory for one test, removed when the test ends.
private final class ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "descent-safetensors-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func contents() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
}

/// A two-layer model as the trainer stores it.
private let model = SafetensorsFile(
    tensors: [
        "W1": Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude]),
        "b1": Tensor(shape: [2], values: [0.25, -0.125]),
        "W10": Tensor(shape: [1, 2], values: [7, 8]),
        "W2": Tensor(shape: [1, 2], values: [-0.0, 1e-3]),
        "b2": Tensor(shape: [1], values: [42]),
        "empty": Tensor(shape: [0, 4], values: []),
        "scalar": Tensor(shape: [], values: [3]),
    ],
    metadata: ["layers": "3,2,1", "activation": "relu", "note": "quote \" slash \\ newline \n tab \t bell \u{7} é"]
)

/// Safetensors bytes around a hand-written header (padded as a writer would) and data buffer.
private func file(header: String, data: [UInt8] = []) -> [UInt8] {
    var json = Array(header.utf8)
    json += Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
    return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + data
}

private func decode(_ bytes: [UInt8]) throws(SafetensorsError) -> SafetensorsFile {
    try SafetensorsFile(decoding: bytes, file: "m.safetensors")
}

@Suite struct SafetensorsTests {
    @Test func roundTripPreservesTensorsAndMetadata() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/model.safetensors"
        try model.write(to: path)
        let read = try SafetensorsFile.read(from: path)
        #expect(read == model)
        #expect(read.tensors["W2"]?.values[0].sign == .minus)
        #expect(try scratch.contents() == ["model.safetensors"])
    }

    @Test func sameContentGivesSameBytes() throws {
        var reordered = SafetensorsFile()
        for name in model.tensors.keys.sorted(by: >) { reordered.tensors[name] = model.tensors[name] }
        for key in model.metadata.keys.sorted(by: >) { reordered.metadata[key] = model.metadata[key] }
        let bytes = try model.encoded()
        #expect(try reordered.encoded() == bytes)
        #expect(try model.encoded() == bytes)

        let scratch = try ScratchDirectory()
        try reordered.write(to: scratch.path + "/a.safetensors")
        #expect(try AtomicFile.read(scratch.path + "/a.safetensors") == bytes)

        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect(headerLength % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let order = ["__metadata__", "W1", "W2", "W10", "b1", "b2", "empty", "scalar"]
            .map { header.range(of: "\"\($0)\"")!.lowerBound }
        #expect(order == order.sorted())
        // Little-endian F32 data, starting with W1's first value.
        #expect(Array(bytes[(8 + headerLength)..<(12 + headerLength)]) == [0x00, 0x00, 0x80, 0x3f])
    }

    @Test func naturalOrderComparesDigitRunsAsNumbers() {
        let names = ["b10", "W10", "W2", "b2", "W1", "b1", "W01", "a", "W"]
        #expect(
            names.sorted(by: SafetensorsFile.naturalOrder) == ["W", "W01", "W1", "W2", "W10", "a", "b1", "b2", "b10"])
    }

    @Test func writerRejectsInconsistentTensors() throws {
        let wrongCount = SafetensorsFile(tensors: ["W1": Tensor(shape: [2, 2], values: [1, 2, 3])])
        #expect(
            throws: SafetensorsError.invalidTensor(
                file: "safetensors", tensor: "W1", detail: "shape [2, 2] holds 4 values but 3 were given")
        ) {
            try wrongCount.encoded()
        }
        let negative = SafetensorsFile(tensors: ["W1": Tensor(shape: [-1], values: [])])
        #expect(throws: SafetensorsError.self) { try negative.encoded() }
        let reserved = SafetensorsFile(tensors: ["__metadata__": Tensor(shape: [1], values: [1])])
        #expect(throws: SafetensorsError.self) { try reserved.encoded() }
    }

    @Test func readErrorsNameTheFile() throws {
        let scratch = try ScratchDirectory()
        let missing = scratch.path + "/none.safetensors"
        #expect(throws: SafetensorsError.missingFile(missing)) { try SafetensorsFile.read(from: missing) }
        let short = scratch.path + "/short.safetensors"
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: short))
        #expect(throws: SafetensorsError.tooShort(file: short, size: 5)) { try SafetensorsFile.read(from: short) }
        #expect(SafetensorsError.tooShort(file: short, size: 5).description.hasPrefix(short))
    }

    @Test func malformedHeadersAreRejected() throws {
        let four: [UInt8] = [0, 0, 128, 63]
        let cases: [(bytes: [UInt8], error: SafetensorsError)] = [
            (
                [200, 0, 0, 0, 0, 0, 0, 0, 32, 32],
                .headerBeyondFile(file: "m.safetensors", headerLength: 200, fileSize: 10)
            ),
            (
                withUnsafeBytes(of: UInt64.max.littleEndian) { Array($0) } + [32],
                .headerBeyondFile(file: "m.safetensors", headerLength: .max, fileSize: 9)
            ),
            (file(header: "{\"W1\": "), .invalidJSON(file: "m.safetensors", detail: "not valid JSON")),
            (file(header: "[1, 2]"), .invalidJSON(file: "m.safetensors", detail: "the top level is not an object")),
            (file(header: #"{"W1": 3}"#), .invalidJSON(file: "m.safetensors", detail: "entry \"W1\" is not an object")),
            (
                file(header: #"{"__metadata__": {"a": 1}}"#),
                .badMetadata(file: "m.safetensors", detail: "value of \"a\" is not a string")
            ),
            (
                file(header: #"{"W1": {"shape": [1], "data_offsets": [0, 4]}}"#, data: four),
                .missingField(file: "m.safetensors", tensor: "W1", field: "dtype")
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "data_offsets": [0, 4]}}"#, data: four),
                .missingField(file: "m.safetensors", tensor: "W1", field: "shape")
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [1]}}"#, data: four),
                .missingField(file: "m.safetensors", tensor: "W1", field: "data_offsets")
            ),
            (
                file(header: #"{"W1": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}"#, data: four),
                .unsupportedDType(file: "m.safetensors", tensor: "W1", dtype: "F16")
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#, data: four),
                .badField(file: "m.safetensors", tensor: "W1", field: "shape", detail: "is not an array of integers")
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, data: four),
                .badShape(file: "m.safetensors", tensor: "W1", shape: [-1])
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, data: four),
                .badField(
                    file: "m.safetensors", tensor: "W1", field: "data_offsets", detail: "is not a pair of integers")
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, data: four),
                .badOffsets(file: "m.safetensors", tensor: "W1", begin: 4, end: 0, bufferSize: 4)
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: four),
                .badOffsets(file: "m.safetensors", tensor: "W1", begin: 4, end: 8, bufferSize: 4)
            ),
            (
                file(header: #"{"W1": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#, data: four),
                .sizeMismatch(file: "m.safetensors", tensor: "W1", shape: [2], expectedBytes: 8, gotBytes: 4)
            ),
            (
                file(
                    header:
                        #"{"W1": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b1": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                    data: four + four),
                .overlappingTensors(file: "m.safetensors", first: "W1", second: "b1")
            ),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected) { try decode(bytes) }
        }
    }

    @Test func handWrittenFileDecodes() throws {
        let header =
            #"{"__metadata__": {"step": "3"}, "b1": {"dtype": "F32", "shape": [], "data_offsets": [4, 8]}, "W1": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}}"#
        let decoded = try decode(file(header: header, data: [0, 0, 128, 63, 0, 0, 0, 192]))
        #expect(
            decoded
                == SafetensorsFile(
                    tensors: ["W1": Tensor(shape: [1, 1], values: [1]), "b1": Tensor(shape: [], values: [-2])],
                    metadata: ["step": "3"]))
    }

    // MARK: AtomicFile

    @Test func atomicWriteReplacesTheFile() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        try AtomicFile.write(Data([4, 5]), to: path)
        #expect(try AtomicFile.read(path) == [4, 5])
        #expect(try scratch.contents() == ["out.bin"])
    }

    @Test func failedAtomicWriteLeavesNoTemporaryFile() throws {
        let scratch = try ScratchDirectory()
        let missingDirectory = scratch.path + "/absent/out.bin"
        let error = #expect(throws: AtomicFile.IOError.self) { try AtomicFile.write([1], to: missingDirectory) }
        #expect(error?.errno == ENOENT)
        #expect(throws: SafetensorsError.self) { try model.write(to: missingDirectory) }

        // The target is a non-empty directory: the temporary file is written, then the rename fails.
        let occupied = scratch.path + "/model.safetensors"
        try FileManager.default.createDirectory(atPath: occupied + "/inner", withIntermediateDirectories: true)
        let renameError = #expect(throws: SafetensorsError.self) { try model.write(to: occupied) }
        #expect(renameError?.description.contains("rename failed") == true)
        #expect(try scratch.contents() == ["model.safetensors"])
    }
}
