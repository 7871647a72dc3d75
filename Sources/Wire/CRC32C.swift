import CCRC32C

/// CRC-32C (Castagnoli), the checksum of every frame's payload.
///
/// Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF (RFC 3720 §12.1);
/// "123456789" checks as 0xE3069283. On x86-64 with SSE4.2 the crc32 instruction computes it
/// (about 8 GB/s, against 1 GB/s for tables: parameters and gradients are checked every step);
/// elsewhere slicing-by-8 (Intel, "A Systematic Approach to Building High Performance
/// Software-based CRC Generators", 2005): eight table lookups consume eight bytes per iteration.
public enum CRC32C {
    /// Whether the crc32 instruction is used.
    public static let usesHardware = descent_crc32c_hardware_available() == 1

    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, with: bytes)
    }

    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Continues `crc` (a finished CRC of earlier bytes, or 0 to start) over `bytes`, so that
    /// `update(checksum(a), with: b) == checksum(a + b)`.
    public static func update(_ crc: UInt32, with bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        if usesHardware { return ~descent_crc32c_hardware_update(~crc, base, bytes.count) }
        return softwareUpdate(crc, base: base, count: bytes.count)
    }

    /// Slicing-by-8; also what tests hold the hardware path against.
    static func softwareUpdate(_ crc: UInt32, base: UnsafeRawPointer, count: Int) -> UInt32 {
        tables.withUnsafeBufferPointer { table in
            var crc = ~crc
            var position = 0
            while count - position >= 8 {
                // Two little-endian words: the first folds into the running CRC.
                let low = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
                crc =
                    table[7 * 256 + Int(low & 0xFF)]
                    ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)]
                    ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)]
                    ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)]
                    ^ table[Int(high >> 24)]
                position += 8
            }
            while position < count {
                let byte = base.load(fromByteOffset: position, as: UInt8.self)
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
                position += 1
            }
            return ~crc
        }
    }

    /// The bitwise reference: one bit at a time, straight from the polynomial. Slow; tests
    /// hold the table-driven path against it.
    static func referenceChecksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1
            }
        }
        return ~crc
    }

    private static let polynomial: UInt32 = 0x82F6_3B78

    /// Eight 256-entry tables, one after another: table k advances a byte through k more zero
    /// bytes, which is what lets eight bytes be folded at once.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            tables[index] = crc
        }
        for index in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()
}
