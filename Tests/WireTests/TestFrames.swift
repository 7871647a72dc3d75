@testable import Wire

/// Builds and takes apart frames byte by byte, independently of `FrameHeader`, so the tests
/// check the header layout of docs/PROTOCOL.md rather than the codec against itself.
enum TestFrames {
    struct Header {
        var magic: UInt32 = 0x4453_4354
        var version: UInt16 = WireProtocol.protocolVersion
        var kind: UInt8
        var flags: UInt8 = 0
        var step: UInt64 = 0
        var part: UInt16 = 0
        var parts: UInt16 = 1
        /// nil: the payload's real length.
        var payloadLength: UInt32?
        /// nil: the payload's real CRC-32C.
        var checksum: UInt32?

        /// The header with length and checksum recomputed from whatever payload it frames.
        var withDefaults: Header {
            var header = self
            header.payloadLength = nil
            header.checksum = nil
            return header
        }
    }

    static func frame(_ header: Header, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) {
            for index in 0..<MemoryLayout<T>.size {
                bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index)))
            }
        }
        append(header.magic)
        append(header.version)
        append(header.kind)
        append(header.flags)
        append(header.step)
        append(header.part)
        append(header.parts)
        append(header.payloadLength ?? UInt32(payload.count))
        append(header.checksum ?? CRC32C.checksum(payload))
        return bytes + payload
    }

    static func header(of frame: [UInt8]) -> Header {
        func read<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            (0..<MemoryLayout<T>.size).reduce(T.zero) { value, index in
                value | T(frame[offset + index]) << (8 * index)
            }
        }
        return Header(
            magic: read(UInt32.self, at: 0), version: read(UInt16.self, at: 4),
            kind: frame[6], flags: frame[7], step: read(UInt64.self, at: 8),
            part: read(UInt16.self, at: 16), parts: read(UInt16.self, at: 18),
            payloadLength: read(UInt32.self, at: 20), checksum: read(UInt32.self, at: 24)
        )
    }

    static func payload(of frame: [UInt8]) -> [UInt8] {
        Array(frame[28...])
    }

    /// `frame` with its header edited; the payload, and so its checksum, unchanged.
    static func edit(_ frame: [UInt8], _ change: (inout Header) -> Void) -> [UInt8] {
        var header = header(of: frame)
        change(&header)
        return self.frame(header, payload: payload(of: frame))
    }

    /// The error decoding `frames` throws, or nil if it decodes; those `fromSharedMemory` names
    /// as if taken out of memory shared with their sender.
    static func decodeError(_ frames: [[UInt8]], fromSharedMemory: Set<Int> = []) -> WireError? {
        do {
            _ = try MessageCodec.decode(frames, fromSharedMemory: fromSharedMemory)
            return nil
        } catch {
            return error
        }
    }

    /// Little-endian bytes of a payload built field by field.
    struct Payload {
        var bytes: [UInt8] = []

        mutating func append<T: FixedWidthInteger>(_ value: T) {
            for index in 0..<MemoryLayout<T>.size {
                bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index)))
            }
        }

        mutating func append(_ values: [Float]) {
            append(UInt32(values.count))
            for value in values { append(value.bitPattern) }
        }

        mutating func append(string: [UInt8]) {
            append(UInt32(string.count))
            bytes += string
        }
    }
}
