/// Frames written where they travel from. PARAMS: one frame in memory the coordinator shares
/// with its local workers (`ParameterBoard`), encoded there once per step and decoded there by
/// every worker. PARTIAL: one frame a worker writes straight into its ring toward the coordinator.
extension MessageCodec {
    /// Bytes of a PARAMS payload before its values: the step (u64) and the values' count (u32).
    private static let paramsPreamble = 12

    /// Bytes of the one frame `encodeParams(step:values:into:)` writes for `count` values.
    public static func paramsFrameBytes(count: Int) -> Int {
        WireProtocol.headerSize + paramsPreamble + 4 * count
    }

    /// Writes PARAMS for `step` as one frame at `destination`, which has room for
    /// `paramsFrameBytes(count:)`: the bytes `encode` makes for it, except that the frame is never
    /// cut at `WireProtocol.maxFramePayload` (memory shared on one machine has no frame limit).
    /// One pass over `values`, copying and checksumming them together.
    static func encodeParams(step: UInt64, values: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer) {
        var writer = PayloadWriter(reserved: 0, capacity: paramsPreamble)
        writer.write(step)
        writer.writeCount(values.count)
        writeFrame(.params, step: step, fields: writer.finish(), values: values, at: destination)
    }

    /// Bytes from the start of a PARAMS frame written by `encodeParams` to its first value.
    static let paramsValuesOffset = WireProtocol.headerSize + paramsPreamble

    /// Makes the frame `encodeParams` would write at `destination` around `count` values that
    /// already lie where it holds them (from `paramsValuesOffset` on): the header and fields are
    /// written, the values only checksummed. Little-endian hosts only, where a Float's bytes are
    /// already the wire's.
    static func sealParams(step: UInt64, count: Int, at destination: UnsafeMutableRawPointer) {
        precondition(Int(1).littleEndian == 1, "values sealed in place must already be little-endian")
        var writer = PayloadWriter(reserved: 0, capacity: paramsPreamble)
        writer.write(step)
        writer.writeCount(count)
        let fields = writer.finish()
        let payload = destination + WireProtocol.headerSize
        fields.withUnsafeBytes { payload.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let length = fields.count + 4 * count
        let checksum = CRC32C.update(0, with: UnsafeRawBufferPointer(start: payload, count: length))
        FrameHeader(kind: .params, step: step, part: 0, parts: 1, payloadLength: UInt32(length), checksum: checksum).write(to: destination)
    }

    /// Writes a one-frame message at `destination`: the header, then the payload — `fields`,
    /// then `values` — copied and checksummed in one pass.
    private static func writeFrame(
        _ kind: MessageKind, step: UInt64, fields: [UInt8], values: UnsafeBufferPointer<Float>, at destination: UnsafeMutableRawPointer
    ) {
        let payload = destination + WireProtocol.headerSize
        var checksum = fields.withUnsafeBytes { CRC32C.update(0, copying: $0, to: payload) }
        let floats = payload + fields.count
        #if _endian(little)
        checksum = CRC32C.update(checksum, copying: UnsafeRawBufferPointer(values), to: floats)
        #else
        for (i, value) in values.enumerated() { floats.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        checksum = CRC32C.update(checksum, with: UnsafeRawBufferPointer(start: floats, count: 4 * values.count))
        #endif
        let length = fields.count + 4 * values.count
        FrameHeader(kind: kind, step: step, part: 0, parts: 1, payloadLength: UInt32(length), checksum: checksum).write(to: destination)
    }

    /// Bytes of the one frame `encodePartial(_:gradients:into:)` writes for `count` float32 values;
    /// nil when they need more than one frame (`encodePartial(_:gradients:)` then cuts them).
    public static func partialFrameBytes(count: Int) -> Int? {
        let payload = partialPreamble + 4 * count
        return payload <= WireProtocol.maxFramePayload ? WireProtocol.headerSize + payload : nil
    }

    /// Bytes of a float32 PARTIAL's payload before its values: its fields, then the values' count (u32).
    private static let partialPreamble = 48

    /// Writes `partial` with the float32 `gradients` as one frame at `destination`, which has room
    /// for `partialFrameBytes(count:)`: the bytes `encodePartial(_:gradients:)` makes. One pass over
    /// the values, copying and checksumming them together.
    public static func encodePartial(_ partial: Partial, gradients: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer) {
        precondition(partialFrameBytes(count: gradients.count) != nil, "\(gradients.count) values need more than one frame")
        var writer = PayloadWriter(reserved: 0, capacity: partialPreamble)
        writePartialFields(partial, encoding: .float32, into: &writer)
        writer.writeCount(gradients.count)
        let fields = writer.finish()
        precondition(fields.count == partialPreamble, "a PARTIAL's fields are \(partialPreamble) bytes")
        writeFrame(.partial, step: partial.step, fields: fields, values: gradients, at: destination)
    }

    /// The PARAMS message in the one frame `frame`, checked as `decode` checks one (header,
    /// checksum, fields; a payload of any length that fits), its values viewed where they lie and
    /// kept mapped by `owner`. Each field is read once, so what was checked is what is used —
    /// except the values themselves, which only the coordinator that wrote them could change.
    static func decodeParams(inPlace frame: UnsafeRawBufferPointer, owner: AnyObject) throws(WireError) -> Params {
        let header = try FrameHeader(validating: frame, maxPayload: frame.count - WireProtocol.headerSize)
        guard header.kind == MessageKind.params.rawValue else {
            throw .malformedPayload("a frame in shared parameters holds a \(MessageKind(rawValue: header.kind).map { "\($0)" } ?? "?") message, not PARAMS")
        }
        guard header.parts == 1 else { throw .badPartNumbering }
        let payload = UnsafeRawBufferPointer(rebasing: frame[WireProtocol.headerSize...])
        guard payload.count >= paramsPreamble else { throw .truncated(expected: paramsPreamble, got: payload.count) }
        let step = UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self))
        let count = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        guard payload.count - paramsPreamble == 4 * count else {
            throw .malformedPayload("values count \(count) does not fill a \(payload.count)-byte payload")
        }
        guard step == header.step else { throw .malformedPayload("header step \(header.step) but payload step \(step)") }
        let values = UnsafeRawBufferPointer(rebasing: payload[paramsPreamble...])
        return Params(step: step, values: FloatArray(sharing: values, count: count, owner: owner))
    }
}
