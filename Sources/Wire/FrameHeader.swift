/// The 28-byte little-endian header in front of every frame's payload.
///
/// ```
/// offset  size  field
///      0     4  magic          WireProtocol.magic
///      4     2  version        WireProtocol.protocolVersion
///      6     1  kind           MessageKind
///      7     1  flags          0, or `inSharedMemory` (1) for a frame that never left this machine
///      8     8  step           the message's step, 0 when it has none
///     16     2  part           0..<parts
///     18     2  parts          frames in the message, ≥ 1
///     20     4  payloadLength  bytes after the header, ≤ WireProtocol.maxFramePayload
///     24     4  checksum       CRC-32C of this frame's payload; 0 with `inSharedMemory`
/// ```
struct FrameHeader: Equatable {
    /// The one flag: the frame was written where its reader reads it, in memory shared on one
    /// machine (a worker's ring, the coordinator's parameter board), and carries no checksum.
    /// Nothing corrupts bytes between two processes' mappings of one page, and a checksum is no
    /// defence against the peer that wrote them (it could compute one), so two of the three
    /// passes over a gradient a step would buy nothing. A reader accepts the flag only on a frame
    /// it took from shared memory itself; through a socket it is `unsupportedFlags`.
    static let inSharedMemory: UInt8 = 1

    var magic: UInt32 = WireProtocol.magic
    var version: UInt16 = WireProtocol.protocolVersion
    var kind: UInt8
    var flags: UInt8 = 0
    var step: UInt64
    var part: UInt16
    var parts: UInt16
    var payloadLength: UInt32
    var checksum: UInt32

    /// Writes the header over `frame[0..<WireProtocol.headerSize]`.
    func write(into frame: inout [UInt8]) {
        frame.withUnsafeMutableBytes { write(to: $0.baseAddress!) }
    }

    /// Writes the header's `WireProtocol.headerSize` bytes at `raw`.
    func write(to raw: UnsafeMutableRawPointer) {
        raw.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: version.littleEndian, toByteOffset: 4, as: UInt16.self)
        raw.storeBytes(of: kind, toByteOffset: 6, as: UInt8.self)
        raw.storeBytes(of: flags, toByteOffset: 7, as: UInt8.self)
        raw.storeBytes(of: step.littleEndian, toByteOffset: 8, as: UInt64.self)
        raw.storeBytes(of: part.littleEndian, toByteOffset: 16, as: UInt16.self)
        raw.storeBytes(of: parts.littleEndian, toByteOffset: 18, as: UInt16.self)
        raw.storeBytes(of: payloadLength.littleEndian, toByteOffset: 20, as: UInt32.self)
        raw.storeBytes(of: checksum.littleEndian, toByteOffset: 24, as: UInt32.self)
    }

    /// Reads and checks the header of `frame`, and checks the payload it describes: the
    /// length, the limit and the checksum. It does not look inside the payload. `inSharedMemory`:
    /// the reader took the frame from memory shared on this machine, where the flag of that name
    /// is allowed (and replaces the checksum).
    init(validating frame: [UInt8], inSharedMemory: Bool = false) throws(WireError) {
        let header = frame.withUnsafeBytes { raw in
            Result { () throws(WireError) in try FrameHeader(validating: raw, inSharedMemory: inSharedMemory) }
        }
        self = try header.get()
    }

    /// `init(validating:)` for a frame at `frame`, whose payload may be up to `maxPayload` bytes
    /// (a frame in memory shared on one machine is not cut to `WireProtocol.maxFramePayload`).
    /// Each field is read once.
    init(
        validating frame: UnsafeRawBufferPointer, maxPayload: Int = WireProtocol.maxFramePayload,
        inSharedMemory: Bool = false
    ) throws(WireError) {
        guard frame.count >= WireProtocol.headerSize else {
            throw .truncated(expected: WireProtocol.headerSize, got: frame.count)
        }
        let fields = { (raw: UnsafeRawBufferPointer) in
            (
                magic: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                version: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt16.self)),
                kind: raw.load(fromByteOffset: 6, as: UInt8.self),
                flags: raw.load(fromByteOffset: 7, as: UInt8.self),
                step: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                part: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt16.self)),
                parts: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 18, as: UInt16.self)),
                payloadLength: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
                checksum: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
            )
        }(frame)
        guard fields.magic == WireProtocol.magic else { throw .badMagic(fields.magic) }
        guard fields.version == WireProtocol.protocolVersion else {
            throw .versionMismatch(expected: WireProtocol.protocolVersion, got: fields.version)
        }
        guard MessageKind(rawValue: fields.kind) != nil else { throw .unknownKind(fields.kind) }
        let unchecked = fields.flags == Self.inSharedMemory
        guard fields.flags == 0 || (unchecked && inSharedMemory) else { throw .unsupportedFlags(fields.flags) }
        guard fields.parts >= 1, fields.part < fields.parts else { throw .badPartNumbering }

        let length = Int(fields.payloadLength)
        guard length <= maxPayload else { throw .oversizedFrame(length) }
        let available = frame.count - WireProtocol.headerSize
        guard available >= length else { throw .truncated(expected: length, got: available) }
        guard available == length else { throw .trailingBytes(available - length) }

        if unchecked {
            guard fields.checksum == 0 else { throw .badChecksum(expected: fields.checksum, got: 0) }
        } else {
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: frame[WireProtocol.headerSize...]))
            guard actual == fields.checksum else {
                throw .badChecksum(expected: fields.checksum, got: actual)
            }
        }

        magic = fields.magic
        version = fields.version
        kind = fields.kind
        flags = fields.flags
        step = fields.step
        part = fields.part
        parts = fields.parts
        payloadLength = fields.payloadLength
        checksum = fields.checksum
    }

    init(
        kind: MessageKind, step: UInt64, part: UInt16, parts: UInt16, payloadLength: UInt32, checksum: UInt32,
        flags: UInt8 = 0
    ) {
        self.kind = kind.rawValue
        self.flags = flags
        self.step = step
        self.part = part
        self.parts = parts
        self.payloadLength = payloadLength
        self.checksum = checksum
    }
}
