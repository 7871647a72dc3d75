import Wire

/// TensorBoard's event files, written by hand: TFRecord framing around `tensorflow.Event`
/// protocol buffers (only the fields used here: `wall_time` 1, `step` 2, `file_version` 3,
/// `summary` 5; `Summary.value` 1; `Value.tag` 1, `Value.simple_value` 2).
enum EventFile {
    /// One TFRecord: the length (u64, little-endian), its masked CRC-32C, the data, its masked CRC-32C.
    static func record(_ data: [UInt8]) -> [UInt8] {
        var length = [UInt8]()
        littleEndian(UInt64(data.count), into: &length)
        var record = length
        littleEndian(maskedCRC(length), into: &record)
        record += data
        littleEndian(maskedCRC(data), into: &record)
        return record
    }

    /// TFRecord's mask over a CRC-32C (Castagnoli), so that a CRC of data holding CRCs is not degenerate.
    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let crc = CRC32C.checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    /// The first event of every file: which format version follows.
    static func versionEvent(wallTime: Double) -> [UInt8] {
        var event = header(wallTime: wallTime, step: 0)
        lengthDelimited(3, Array("brain.Event:2".utf8), into: &event)
        return event
    }

    /// An event with one `simple_value` a tag, at `step`.
    static func scalarsEvent(wallTime: Double, step: Int, scalars: [(tag: String, value: Float)]) -> [UInt8] {
        var summary = [UInt8]()
        for (tag, value) in scalars {
            var entry = [UInt8]()
            lengthDelimited(1, Array(tag.utf8), into: &entry)
            entry.append(2 << 3 | 5) // simple_value, fixed32
            littleEndian(value.bitPattern, into: &entry)
            lengthDelimited(1, entry, into: &summary)
        }
        var event = header(wallTime: wallTime, step: step)
        lengthDelimited(5, summary, into: &event)
        return event
    }

    private static func header(wallTime: Double, step: Int) -> [UInt8] {
        var event: [UInt8] = [1 << 3 | 1] // wall_time, fixed64
        littleEndian(wallTime.bitPattern, into: &event)
        event.append(2 << 3 | 0) // step, varint
        varint(UInt64(bitPattern: Int64(step)), into: &event)
        return event
    }

    private static func lengthDelimited(_ field: UInt8, _ bytes: [UInt8], into out: inout [UInt8]) {
        out.append(field << 3 | 2)
        varint(UInt64(bytes.count), into: &out)
        out += bytes
    }

    private static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T, into out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}
