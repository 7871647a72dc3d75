import Core

/// Frames written where they travel from, and read where they lie. PARAMS: one frame in memory
/// the coordinator shares with its local workers (`ParameterBoard`), written there once per step
/// and read there by every worker. PARTIAL: one frame a worker writes straight into its ring
/// toward the coordinator (`SharedMemoryDealer`), or into a frame of its own.
///
/// A frame written into shared memory carries the header flag `inSharedMemory` and no checksum
/// (`FrameHeader.inSharedMemory` says why); one written into a frame of its own is checksummed.
extension MessageCodec {
    /// Bytes of a PARAMS payload before its values: the step (u64) and the values' count (u32).
    private static let paramsPreamble = 12

    /// Bytes of the one frame `encodeParams(step:values:into:)` writes for `count` values.
    static func paramsFrameBytes(count: Int) -> Int {
        WireProtocol.headerSize + paramsPreamble + 4 * count
    }

    /// Writes PARAMS for `step` as one frame at `destination`, which has room for
    /// `paramsFrameBytes(count:)`: the bytes `encode` makes for it, except that the frame is never
    /// cut at `WireProtocol.maxFramePayload` (memory shared on one machine has no frame limit), and
    /// that it is written in shared memory, unchecksummed.
    static func encodeParams(
        step: UInt64, values: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer
    ) {
        var writer = PayloadWriter(reserved: 0, capacity: paramsPreamble)
        writer.write(step)
        writer.writeCount(values.count)
        writeFrame(.params, step: step, fields: writer.finish(), values: values, at: destination, to: .sharedMemory)
    }

    /// Writes a one-frame message at `destination`: the header, then the payload — `fields`,
    /// then `values` — and its checksum, or the flag `inSharedMemory` in its place.
    private static func writeFrame(
        _ kind: MessageKind, step: UInt64, fields: [UInt8], values: UnsafeBufferPointer<Float>,
        at destination: UnsafeMutableRawPointer, to place: FramePlace
    ) {
        let payload = destination + WireProtocol.headerSize
        fields.withUnsafeBytes { payload.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let floats = payload + fields.count
        #if _endian(little)
            if let base = values.baseAddress { floats.copyMemory(from: base, byteCount: 4 * values.count) }
        #else
            for (i, value) in values.enumerated() {
                floats.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        #endif
        let length = fields.count + 4 * values.count
        let shared = place == .sharedMemory
        let checksum = shared ? 0 : CRC32C.checksum(UnsafeRawBufferPointer(start: payload, count: length))
        FrameHeader(
            kind: kind, step: step, part: 0, parts: 1, payloadLength: UInt32(length), checksum: checksum,
            flags: shared ? FrameHeader.inSharedMemory : 0
        ).write(to: destination)
    }

    /// Bytes of the one frame `encodePartial(_:gradients:into:)` writes for `count` float32
    /// values; nil when they need more than one frame (`encodePartial(_:gradients:)` cuts them).
    public static func partialFrameBytes(count: Int) -> Int? {
        let payload = partialPreamble + 4 * count
        return payload <= WireProtocol.maxFramePayload ? WireProtocol.headerSize + payload : nil
    }

    /// Bytes of a float32 PARTIAL's payload before its values: its fields, then their count (u32).
    private static let partialPreamble = 52

    /// Writes `partial` with the float32 `gradients` as one frame at `destination`, which has room
    /// for `partialFrameBytes(count:)`: the bytes `encodePartial(_:gradients:)` makes, unless
    /// `place` is shared memory (then flagged so, without a checksum).
    public static func encodePartial(
        _ partial: Partial, gradients: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer,
        for place: FramePlace = .socket
    ) {
        precondition(
            partialFrameBytes(count: gradients.count) != nil, "\(gradients.count) values need more than one frame")
        var writer = PayloadWriter(reserved: 0, capacity: partialPreamble)
        writePartialFields(partial, encoding: .float32, into: &writer)
        writer.writeCount(gradients.count)
        let fields = writer.finish()
        precondition(fields.count == partialPreamble, "a PARTIAL's fields are \(partialPreamble) bytes")
        writeFrame(.partial, step: partial.step, fields: fields, values: gradients, at: destination, to: place)
    }

    /// The PARAMS message in the one frame `frame`, checked as `decode` checks one (header,
    /// checksum or the shared-memory flag, fields; a payload of any length that fits), its values viewed where they lie and
    /// kept mapped by `owner`. Each field is read once, so what was checked is what is used —
    /// except the values themselves, which only the coordinator that wrote them could change.
    static func decodeParams(inPlace frame: UnsafeRawBufferPointer, owner: AnyObject) throws(WireError) -> Params {
        let header = try FrameHeader(
            validating: frame, maxPayload: frame.count - WireProtocol.headerSize, inSharedMemory: true)
        guard header.kind == MessageKind.params.rawValue else {
            let kind = MessageKind(rawValue: header.kind).map { "\($0)" } ?? "?"
            throw .malformedPayload("a frame in shared parameters holds a \(kind) message, not PARAMS")
        }
        guard header.parts == 1 else { throw .badPartNumbering }
        let payload = UnsafeRawBufferPointer(rebasing: frame[WireProtocol.headerSize...])
        guard payload.count >= paramsPreamble else {
            throw .truncated(expected: paramsPreamble, got: payload.count)
        }
        let step = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
        let count = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        guard payload.count - paramsPreamble == 4 * count else {
            throw .malformedPayload("values count \(count) does not fill a \(payload.count)-byte payload")
        }
        guard step == header.step else {
            throw .malformedPayload("header step \(header.step) but payload step \(step)")
        }
        let values = UnsafeRawBufferPointer(rebasing: payload[paramsPreamble...])
        return Params(step: step, values: FloatArray(sharing: values, count: count, owner: owner))
    }
}

extension MessageCodec {
    /// The float32 PARTIAL in the one frame `frame`, which lies in memory shared with its writer:
    /// checked as `decode` checks it (header, the flag `inSharedMemory` or the checksum, every
    /// field), its gradients viewed where they lie and kept mapped by `owner`. Each field is read
    /// once, so what was checked is what is used — except the gradients themselves, which the
    /// coordinator reads once, as it adds them (docs/PROTOCOL.md, "Shared memory").
    static func decodePartial(inPlace frame: UnsafeRawBufferPointer, owner: AnyObject) throws(WireError) -> Partial {
        let header = try FrameHeader(validating: frame, maxPayload: frame.count, inSharedMemory: true)
        guard header.kind == MessageKind.partial.rawValue, header.parts == 1 else {
            throw .malformedPayload("a frame read in place is not a one-frame PARTIAL")
        }
        let payload = UnsafeRawBufferPointer(rebasing: frame[WireProtocol.headerSize...])
        guard payload.count >= partialPreamble else { throw .truncated(expected: partialPreamble, got: payload.count) }
        func field<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: payload.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        // The fields (44 bytes), 3 bytes of padding, the encoding, the values' count.
        guard field(44, UInt8.self) == 0, field(45, UInt16.self) == 0 else {
            throw .malformedPayload("padding is not zero")
        }
        guard field(47, UInt8.self) == GradientEncoding.float32.wireCode else {
            throw .malformedPayload("a PARTIAL read in place is not float32")
        }
        let count = Int(field(48, UInt32.self))
        guard payload.count - partialPreamble == 4 * count else {
            throw .malformedPayload("gradients count \(count) does not fill a \(payload.count)-byte payload")
        }
        let values = UnsafeRawBufferPointer(rebasing: payload[partialPreamble...])
        let partial = Partial(
            step: field(0, UInt64.self), shardID: field(8, UInt32.self), shardSpan: field(12, UInt32.self),
            segment: field(16, UInt32.self), exampleCount: field(20, UInt32.self),
            correctCount: field(24, UInt32.self), lossSum: Double(bitPattern: field(28, UInt64.self)),
            computeSeconds: Double(bitPattern: field(36, UInt64.self)),
            gradients: .float32(FloatArray(sharing: values, count: count, owner: owner)))
        try checkPartial(partial)
        guard partial.step == header.step else {
            throw .malformedPayload("header step \(header.step) but payload step \(partial.step)")
        }
        return partial
    }
}

/// Where a frame encoded in place is written: a frame of its own that goes through a socket, or
/// memory shared with the process that reads it.
public enum FramePlace: Sendable {
    case socket
    case sharedMemory
}
