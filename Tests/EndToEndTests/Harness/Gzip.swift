/// A valid gzip file (RFC 1952) of uncompressed deflate blocks (RFC 1951 §3.2.4), so tests can
/// write `.gz` inputs — and damage them — without linking zlib.
enum Gzip {
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255] // magic, deflate, no flags, mtime 0, unknown OS
        var start = 0
        repeat {
            let count = min(65535, data.count - start)
            let isLast = start + count == data.count
            out.append(isLast ? 1 : 0) // BFINAL, BTYPE = 00 (stored)
            out += littleEndian(UInt16(count)) + littleEndian(~UInt16(count))
            out += data[start..<start + count]
            start += count
        } while start < data.count
        out += littleEndian(crc32(data)) + littleEndian(UInt32(truncatingIfNeeded: data.count))
        return out
    }

    /// CRC-32 (ISO-HDLC: reflected 0xEDB88320, initial and final XOR 0xFFFFFFFF), bit by bit.
    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<T.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
