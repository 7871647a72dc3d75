/// Protocol Buffers' wire format, written by hand: the few encodings an ONNX model needs, with
/// no protobuf library.
///
/// A field is a tag (field number << 3 | wire type, as a varint) followed by its value: a varint
/// (wire type 0) for integers, four little-endian bytes (wire type 5) for a float, or a varint
/// length and that many bytes (wire type 2) for strings, bytes, packed arrays and nested messages.
public struct ProtobufWriter: Sendable {
    /// How a field's value is laid out after its tag.
    public enum WireType: UInt8, Sendable {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    /// What has been written so far.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// `value` seven bits at a time, least significant first, the high bit set on all but the last
    /// byte: 1 → 01, 300 → AC 02.
    public mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// The key that opens field `field`.
    public mutating func tag(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | UInt64(type.rawValue))
    }

    /// An `int64` or `int32` field: a varint of the two's-complement bits, so a negative value
    /// takes ten bytes (protobuf's `int` types, not the zigzag `sint` ones).
    public mutating func int64(_ field: Int, _ value: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A `float` field: its IEEE 754 bits, little-endian.
    public mutating func float(_ field: Int, _ value: Float) {
        tag(field, .fixed32)
        var bits = value.bitPattern
        for _ in 0..<4 {
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    /// A `bytes` field.
    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `string` field, UTF-8.
    public mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    /// A nested message, whatever `build` writes into a writer of its own.
    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        build(&nested)
        bytes(field, nested.bytes)
    }

    /// A packed repeated float field: one length, then each value's four little-endian bytes.
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        bytes(field, Self.littleEndian(values))
    }

    /// The values' IEEE 754 bits, four little-endian bytes each: TensorProto's `raw_data`.
    public static func littleEndian(_ values: [Float]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(4 * values.count)
        for value in values {
            var bits = value.bitPattern
            for _ in 0..<4 {
                result.append(UInt8(truncatingIfNeeded: bits))
                bits >>= 8
            }
        }
        return result
    }
}
