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

    /// A copy that checksums as it goes stores exactly the bytes it read and returns their
    /// checksum: around and past a round of three blocks, at odd offsets on either side.
    @Test func aChecksummedCopyIsTheBytesAndTheirChecksum() {
        var generator = SplitMix64(seed: 4)
        let bytes = (0..<200_011).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let round = 3 * 8192
        let cases = [(0, 0, 0), (1, 0, 1), (3, 5, 7), (0, 3, 8), (5, 1, 1000), (0, 0, round - 1), (7, 2, round),
                     (2, 6, round + 9), (0, 4, 2 * round + 17), (9, 0, 200_000)]
        for (start, offset, length) in cases {
            var copied = [UInt8](repeating: 0xA5, count: length + offset + 8)
            let checksum = bytes[start..<start + length].withUnsafeBytes { source in
                copied.withUnsafeMutableBytes { CRC32C.copy(source, to: $0.baseAddress! + offset) }
            }
            let expected = Array(bytes[start..<start + length])
            #expect(Array(copied[offset..<offset + length]) == expected, "start \(start), offset \(offset), length \(length)")
            #expect(copied[..<offset].allSatisfy { $0 == 0xA5 } && copied[(offset + length)...].allSatisfy { $0 == 0xA5 }, "nothing outside")
            #expect(checksum == CRC32C.checksum(expected), "start \(start), offset \(offset), length \(length)")
            // Continued from a checksum of other bytes, as `update(_:with:)` continues one.
            let head = CRC32C.checksum(Array("head".utf8))
            let continued = bytes[start..<start + length].withUnsafeBytes { source in
                copied.withUnsafeMutableBytes { CRC32C.update(head, copying: source, to: $0.baseAddress! + offset) }
            }
            #expect(continued == CRC32C.checksum(Array("head".utf8) + expected))
        }
    }
}
