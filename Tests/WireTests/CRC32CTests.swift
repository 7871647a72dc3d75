import Testing
@testable import Wire

@Suite struct CRC32CTests {
    @Test func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    /// Vectors from RFC 3720 Appendix B.4 (iSCSI), which specifies CRC-32C.
    @Test func rfc3720Vectors() {
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
    }

    /// Every length 0…100 and every alignment, so both the 8-byte loop and the tail are held
    /// against the bit-at-a-time reference.
    @Test func slicingMatchesBitwiseReference() {
        var generator = SplitMix64(seed: 1)
        let bytes = (0..<108).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for start in 0..<8 {
            for length in 0...100 {
                let slice = Array(bytes[start..<start + length])
                #expect(CRC32C.checksum(slice) == CRC32C.referenceChecksum(slice), "start \(start), length \(length)")
            }
        }
    }

    @Test func updateContinuesAChecksum() {
        let whole = Array("The quick brown fox jumps over the lazy dog".utf8)
        let head = Array(whole[..<13])
        let tail = Array(whole[13...])
        let continued = tail.withUnsafeBytes { CRC32C.update(CRC32C.checksum(head), with: $0) }
        #expect(continued == CRC32C.checksum(whole))
        #expect(continued == CRC32C.referenceChecksum(whole))
    }

    /// The checksum in use (the crc32 instruction where the CPU has it) and slicing-by-8 agree.
    @Test func inUseMatchesSlicing() {
        var generator = SplitMix64(seed: 2)
        let bytes = (0..<4099).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for (start, length) in [(0, 0), (0, 1), (3, 7), (1, 8), (5, 64), (7, 1000), (0, 4099), (11, 4000)] {
            let slice = Array(bytes[start..<start + length])
            let inUse = CRC32C.checksum(slice)
            let software = slice.withUnsafeBytes { raw in
                raw.baseAddress.map { CRC32C.softwareUpdate(0, base: $0, count: raw.count) } ?? 0
            }
            #expect(inUse == software, "start \(start), length \(length)")
        }
    }
}
