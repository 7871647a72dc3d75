#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A set of named F32 tensors and string metadata in the safetensors format.
///
/// Format (huggingface/safetensors): an 8-byte little-endian u64 N, N bytes of JSON header
/// `{"__metadata__": {…}, "NAME": {"dtype": "F32", "shape": […], "data_offsets": [begin, end]}, …}`,
/// then the data buffer the offsets index into. The writer pads the header with spaces to a
/// multiple of 8 and orders tensors by `naturalOrder`, so equal content gives equal bytes.
public struct SafetensorsFile: Sendable, Equatable {
    /// One tensor: its shape and its values row-major (the last dimension varies fastest).
    public struct Tensor: Sendable, Equatable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    // MARK: Reading

    /// Reads and validates the file at `path`.
    public static func read(from path: String) throws(SafetensorsError) -> SafetensorsFile {
        let bytes: [UInt8]
        do {
            bytes = try AtomicFile.read(path)
        } catch {
            if error.errno == ENOENT { throw .missingFile(path) }
            throw .readFailed(file: path, reason: String(cString: strerror(error.errno)))
        }
        return try SafetensorsFile(decoding: bytes, file: path)
    }

    /// Decodes safetensors bytes; `file` names the source in errors.
    public init(decoding bytes: [UInt8], file: String) throws(SafetensorsError) {
        guard bytes.count >= 8 else { throw .tooShort(file: file, size: bytes.count) }
        let headerLength = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw .headerBeyondFile(file: file, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let bufferSize = bytes.count - dataStart

        let header: [String: JSONValue]
        do {
            let json = try JSONDecoder().decode(JSONValue.self, from: Data(bytes[8..<dataStart]))
            guard case .object(let object) = json else {
                throw SafetensorsError.invalidJSON(file: file, detail: "the top level is not an object")
            }
            header = object
        } catch let error as SafetensorsError {
            throw error
        } catch {
            throw .invalidJSON(file: file, detail: "not valid JSON")
        }

        metadata = try Self.metadata(header["__metadata__"], file: file)
        tensors = [:]
        var ranges: [(name: String, range: Range<Int>)] = []
        for name in header.keys.sorted(by: Self.naturalOrder) where name != "__metadata__" {
            let entry = try Self.entry(name: name, header[name]!, bufferSize: bufferSize, file: file)
            let start = dataStart + entry.range.lowerBound
            let values = bytes.withUnsafeBytes { raw in
                [Float](unsafeUninitializedCapacity: entry.range.count / 4) { buffer, initialized in
                    for i in 0..<buffer.count {
                        let bits = raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self)
                        buffer[i] = Float(bitPattern: UInt32(littleEndian: bits))
                    }
                    initialized = buffer.count
                }
            }
            tensors[name] = Tensor(shape: entry.shape, values: values)
            ranges.append((name, entry.range))
        }
        try Self.checkNoOverlap(ranges, file: file)
    }

    private static func metadata(_ value: JSONValue?, file: String) throws(SafetensorsError) -> [String: String] {
        guard let value else { return [:] }
        guard case .object(let object) = value else { throw .badMetadata(file: file, detail: "is not an object") }
        var metadata: [String: String] = [:]
        for (key, value) in object {
            guard case .string(let text) = value else {
                throw .badMetadata(file: file, detail: "value of \"\(key)\" is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    /// Validates one header entry: F32, a non-negative shape, and in-bounds offsets spanning
    /// exactly product(shape) × 4 bytes.
    private static func entry(
        name: String, _ value: JSONValue, bufferSize: Int, file: String
    ) throws(SafetensorsError) -> (shape: [Int], range: Range<Int>) {
        guard case .object(let entry) = value else {
            throw .invalidJSON(file: file, detail: "entry \"\(name)\" is not an object")
        }
        guard let dtypeValue = entry["dtype"] else { throw .missingField(file: file, tensor: name, field: "dtype") }
        guard case .string(let dtype) = dtypeValue else {
            throw .badField(file: file, tensor: name, field: "dtype", detail: "is not a string")
        }
        guard dtype == "F32" else { throw .unsupportedDType(file: file, tensor: name, dtype: dtype) }

        guard let shapeValue = entry["shape"] else { throw .missingField(file: file, tensor: name, field: "shape") }
        guard let shape = integers(shapeValue) else {
            throw .badField(file: file, tensor: name, field: "shape", detail: "is not an array of integers")
        }
        guard let count = elementCount(shape) else { throw .badShape(file: file, tensor: name, shape: shape) }

        guard let offsetsValue = entry["data_offsets"] else {
            throw .missingField(file: file, tensor: name, field: "data_offsets")
        }
        guard let offsets = integers(offsetsValue), offsets.count == 2 else {
            throw .badField(file: file, tensor: name, field: "data_offsets", detail: "is not a pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= bufferSize else {
            throw .badOffsets(file: file, tensor: name, begin: begin, end: end, bufferSize: bufferSize)
        }
        let (expectedBytes, overflow) = count.multipliedReportingOverflow(by: 4)
        guard !overflow else { throw .badShape(file: file, tensor: name, shape: shape) }
        guard end - begin == expectedBytes else {
            throw .sizeMismatch(
                file: file, tensor: name, shape: shape, expectedBytes: expectedBytes, gotBytes: end - begin)
        }
        return (shape, begin..<end)
    }

    /// The JSON array as integers, or nil if it is not an array of whole numbers.
    private static func integers(_ value: JSONValue) -> [Int]? {
        guard case .array(let array) = value else { return nil }
        var result: [Int] = []
        for element in array {
            guard case .integer(let integer) = element else { return nil }
            result.append(integer)
        }
        return result
    }

    /// product(shape), or nil for a negative dimension or an overflowing product.
    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Rejects byte ranges shared by two non-empty tensors.
    private static func checkNoOverlap(_ ranges: [(name: String, range: Range<Int>)], file: String)
        throws(SafetensorsError)
    {
        let sorted = ranges.filter { !$0.range.isEmpty }.sorted { $0.range.lowerBound < $1.range.lowerBound }
        var furthest: (name: String, end: Int)?
        for (name, range) in sorted {
            if let previous = furthest, range.lowerBound < previous.end {
                throw .overlappingTensors(file: file, first: previous.name, second: name)
            }
            if range.upperBound > furthest?.end ?? 0 { furthest = (name, range.upperBound) }
        }
    }

    // MARK: Writing

    /// Writes the file atomically (`AtomicFile`): a crash leaves the old file or the new one.
    public func write(to path: String) throws(SafetensorsError) {
        let bytes = try encoded(file: path)
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            throw .writeFailed(file: path, reason: error.description)
        }
    }

    /// The exact bytes `write` stores; `file` names the destination in errors.
    public func encoded(file: String = "safetensors") throws(SafetensorsError) -> [UInt8] {
        let names = tensors.keys.sorted(by: Self.naturalOrder)
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(JSONLine.quote($0)):\(JSONLine.quote(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let tensor = tensors[name]!
            guard !name.isEmpty, name != "__metadata__" else {
                throw .invalidTensor(file: file, tensor: name, detail: "the name is empty or reserved")
            }
            guard let count = Self.elementCount(tensor.shape) else {
                throw .invalidTensor(file: file, tensor: name, detail: "invalid shape \(tensor.shape)")
            }
            guard count == tensor.values.count else {
                throw .invalidTensor(
                    file: file, tensor: name,
                    detail: "shape \(tensor.shape) holds \(count) values but \(tensor.values.count) were given")
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            let end = offset + 4 * count
            entries.append(
                "\(JSONLine.quote(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }

        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        for name in names {
            for value in tensors[name]!.values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        return bytes
    }

    /// Natural order: runs of digits compare as numbers, so W2 comes before W10; the remaining
    /// ties (W01 vs W1) fall back to byte order, keeping the order total.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        var (i, j) = (0, 0)
        while i < x.count, j < y.count {
            if isDigit(x[i]), isDigit(y[j]) {
                let endX = x[i...].firstIndex { !isDigit($0) } ?? x.count
                let endY = y[j...].firstIndex { !isDigit($0) } ?? y.count
                let numberX = x[i..<endX].drop { $0 == UInt8(ascii: "0") }
                let numberY = y[j..<endY].drop { $0 == UInt8(ascii: "0") }
                if numberX.count != numberY.count { return numberX.count < numberY.count }
                if numberX != numberY { return numberX.lexicographicallyPrecedes(numberY) }
                (i, j) = (endX, endY)
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                (i, j) = (i + 1, j + 1)
            }
        }
        if x.count - i != y.count - j { return x.count - i < y.count - j }
        return x.lexicographicallyPrecedes(y)
    }
}

/// A JSON value, as the safetensors header is read (JSONDecoder has no untyped form).
enum JSONValue: Decodable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    /// A number written without fraction or exponent that fits an Int.
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
