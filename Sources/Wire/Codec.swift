import Core

/// Turns messages into frames and frames back into messages; `docs/PROTOCOL.md` is the spec.
///
/// Encoding writes the payload once, straight after room for the header, so a message that
/// fits one frame costs one copy of its arrays. Decoding checks every frame (`FrameHeader`)
/// and then the payload field by field; it throws a `WireError` for any input it refuses and
/// never traps, whatever the bytes.
public enum MessageCodec {
    /// The frames of `message`: one, or several when its payload exceeds
    /// `WireProtocol.maxFramePayload`. Strings longer than `WireProtocol.maxStringBytes`
    /// are cut to that length.
    public static func encode(_ message: Message) -> [[UInt8]] {
        let headerSize = WireProtocol.headerSize
        let frameLimit = WireProtocol.maxFramePayload
        var writer = PayloadWriter(reserved: headerSize, capacity: payloadSizeEstimate(message))
        writePayload(message, into: &writer)
        var buffer = writer.finish()
        let payloadLength = buffer.count - headerSize
        let step = headerStep(message)

        if payloadLength <= frameLimit {
            let checksum = buffer.withUnsafeBytes { raw in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[headerSize...]))
            }
            FrameHeader(
                kind: message.kind, step: step, part: 0, parts: 1,
                payloadLength: UInt32(payloadLength), checksum: checksum
            ).write(into: &buffer)
            return [buffer]
        }

        let parts = (payloadLength + frameLimit - 1) / frameLimit
        precondition(parts <= Int(UInt16.max), "a \(payloadLength)-byte payload needs more than 65535 frames")
        return buffer.withUnsafeBytes { raw in
            (0..<parts).map { part in
                let start = headerSize + part * frameLimit
                let chunk = UnsafeRawBufferPointer(rebasing: raw[start..<min(start + frameLimit, raw.count)])
                var frame = [UInt8](unsafeUninitializedCapacity: headerSize + chunk.count) { frame, initialized in
                    let raw = UnsafeMutableRawBufferPointer(frame)
                    raw[..<headerSize].initializeMemory(as: UInt8.self, repeating: 0)
                    UnsafeMutableRawBufferPointer(rebasing: raw[headerSize...]).copyMemory(from: chunk)
                    initialized = headerSize + chunk.count
                }
                FrameHeader(
                    kind: message.kind, step: step, part: UInt16(part), parts: UInt16(parts),
                    payloadLength: UInt32(chunk.count), checksum: CRC32C.checksum(chunk)
                ).write(into: &frame)
                return frame
            }
        }
    }

    /// The frames of a PARAMS message for `step` carrying `values`, read in place: one copy of
    /// them, into the frame. The coordinator encodes this once per step for all workers.
    public static func encodeParams(step: UInt64, values: UnsafeBufferPointer<Float>) -> [[UInt8]] {
        encode(.params(Params(step: step, values: FloatArray(borrowing: values))))
    }

    /// `range` of the flat parameter vector whose first value is at `vector`, as messages of one
    /// frame each (`WireProtocol.pieces(of:)`): `make` builds each around its piece's offset and
    /// values, which are read in place — one copy of them, into the frame. What a reducer or the
    /// coordinator sends of the parameters or moments each step; the arrays `make` is given live
    /// only for this call.
    public static func encodePieces(
        of vector: UnsafePointer<Float>, range: Range<Int>, _ make: (_ offset: Int, _ values: FloatArray) -> Message
    ) -> [[[UInt8]]] {
        WireProtocol.pieces(of: range).map { piece in
            let values = FloatArray(
                borrowing: UnsafeBufferPointer(start: vector + piece.lowerBound, count: piece.count))
            return encode(make(piece.lowerBound, values))
        }
    }

    /// The kind byte of a message's first frame header, unchecked (the decoder checks it all):
    /// what a transport layer looks at to route a message before anyone decodes it.
    static func peekKind(_ frames: [[UInt8]]) -> UInt8? {
        guard let first = frames.first, first.count >= WireProtocol.headerSize else { return nil }
        return first[6]
    }

    /// The frames of `partial` with `gradients` in place of its own, read in place: one copy of
    /// them, into the frame.
    public static func encodePartial(_ partial: Partial, gradients: UnsafeBufferPointer<Float>) -> [[UInt8]] {
        var partial = partial
        partial.gradients = .float32(FloatArray(borrowing: gradients))
        return encode(.partial(partial))
    }

    /// The frames of `partial` with 16-bit gradients in place of its own: `bits`, float16 or
    /// bfloat16 patterns as `encoding` says, read in place: one copy of them, into the frame.
    public static func encodePartial(_ partial: Partial, encoding: GradientEncoding, bits: UnsafeBufferPointer<UInt16>)
        -> [[UInt8]]
    {
        var partial = partial
        partial.gradients = PartialGradients(encoding, bits: HalfArray(borrowing: bits))
        return encode(.partial(partial))
    }

    /// The message carried by `frames`, after checking every frame's header and checksum,
    /// the parts against each other, and the payload's fields. The frames `fromSharedMemory`
    /// names were taken from memory shared on this machine, and may carry the flag
    /// `inSharedMemory` in place of a checksum.
    public static func decode(_ frames: [[UInt8]], fromSharedMemory: Set<Int> = []) throws(WireError) -> Message {
        guard let first = frames.first else { throw .emptyMessage }
        let header = try FrameHeader(validating: first, inSharedMemory: fromSharedMemory.contains(0))
        guard header.part == 0, Int(header.parts) == frames.count else { throw .badPartNumbering }
        guard let kind = MessageKind(rawValue: header.kind) else { throw .unknownKind(header.kind) }

        var reader: PayloadReader
        if frames.count == 1 {
            reader = PayloadReader(first, from: WireProtocol.headerSize)
        } else {
            reader = PayloadReader(try joinedPayload(frames, first: header, fromSharedMemory), from: 0)
        }
        let message = try readPayload(kind, from: &reader)
        try reader.finish()

        // The header is outside the checksum; the step inside the payload is not.
        let step = headerStep(message)
        guard step == header.step else {
            throw .malformedPayload("header step \(header.step) but payload step \(step)")
        }
        return message
    }

    /// The payloads of a multi-frame message, in part order, once every part has been checked.
    private static func joinedPayload(
        _ frames: [[UInt8]], first: FrameHeader, _ fromSharedMemory: Set<Int>
    ) throws(WireError) -> [UInt8] {
        var total = 0
        for (index, frame) in frames.enumerated() {
            let shared = fromSharedMemory.contains(index)
            let header = index == 0 ? first : try FrameHeader(validating: frame, inSharedMemory: shared)
            guard Int(header.part) == index, header.parts == first.parts else { throw .badPartNumbering }
            guard header.kind == first.kind, header.step == first.step else { throw .inconsistentParts }
            // Only the encoder's cut is accepted: every part but the last is full.
            let isLast = index == frames.count - 1
            // …and the last is not empty, so a message has exactly one encoding.
            guard isLast ? header.payloadLength > 0 : Int(header.payloadLength) == WireProtocol.maxFramePayload else {
                throw .inconsistentParts
            }
            total += Int(header.payloadLength)
        }
        var payload = [UInt8]()
        payload.reserveCapacity(total)
        for frame in frames {
            frame.withUnsafeBytes { payload.append(contentsOf: $0[WireProtocol.headerSize...]) }
        }
        return payload
    }

    /// The step a message's header carries: the message's own step, 0 when it has none.
    static func headerStep(_ message: Message) -> UInt64 {
        switch message {
        case .params(let params): params.step
        case .step(let step): step.step
        case .partial(let partial): partial.step
        case .heartbeat(let heartbeat): heartbeat.step
        case .paramsPart(let part): part.step
        case .reducerAssign(let assign): assign.step
        case .rangeState(let state): state.step
        case .stateRequest(let request): request.step
        case .reduceStep(let step): step.step
        case .reduced(let reduced): reduced.step
        case .reducerNote(let note): note.step
        case .localSteps(let steps): steps.step
        case .hello, .welcome, .refuse, .shard, .shardReady, .bye, .relay, .reducers, .join: 0
        }
    }
}
