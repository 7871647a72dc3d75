import Core
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

    /// Long buffers go three blocks of 8 KiB at a time, joined by shifting: lengths around and
    /// well past a round (24 KiB), at odd offsets, and continued from a nonzero state, all agree
    /// with slicing-by-8.
    @Test func interleavedRoundsMatchSlicing() {
        var generator = SplitMix64(seed: 3)
        let bytes = (0..<200_003).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let round = 3 * 8192
        let cases = [(0, round - 1), (1, round), (3, round + 1), (0, 2 * round + 17), (5, 199_990), (0, 200_003)]
        for (start, length) in cases {
            bytes[start..<start + length].withUnsafeBytes { raw in
                let software = CRC32C.softwareUpdate(0, base: raw.baseAddress!, count: raw.count)
                #expect(CRC32C.checksum(raw) == software, "start \(start), length \(length)")
                // Continued from a checksum of a head: the first round starts from a nonzero state.
                let head = UnsafeRawBufferPointer(rebasing: raw[..<7])
                let rest = UnsafeRawBufferPointer(rebasing: raw[7...])
                #expect(CRC32C.update(CRC32C.checksum(head), with: rest) == CRC32C.checksum(raw))
            }
        }
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
