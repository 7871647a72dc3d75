import Core

/// The payload layout of the reducers' messages (protocol 9), field by field in declaration
/// order, as `Codec+Payloads.swift` lays out the others; the checks beyond each layout follow it.
extension MessageCodec {
    static func writeReducerPayload(_ message: Message, into writer: inout PayloadWriter) {
        switch message {
        case .reducers(let reducers):
            writer.write(reducers.token)
            writer.write(reducers.boundaries)
            writer.write(reducers.endpoints)
            writer.write(reducers.publicKeys)
            writer.write(UInt8(reducers.broadcast ? 1 : 0))
        case .join(let join):
            writer.write(join.token)
        case .reducerAssign(let assign):
            writeReducerAssign(assign, into: &writer)
        case .rangeState(let state):
            writer.write(state.step)
            writer.write(state.updates)
            writer.write(state.offset)
            writer.write(state.part)
            writer.writePadding(rangeStatePadding)
            writer.write(state.values)
        case .stateRequest(let request):
            writer.write(request.step)
            writer.write(request.parts)
        case .reduceStep(let step):
            writer.write(step.step)
            writer.write(step.learningRate)
            writer.write(step.exampleCount)
            writer.write(step.tokens)
            writer.write(step.shardExamples)
        case .reduced(let reduced):
            writer.write(reduced.step)
            writer.write(reduced.marks)
            writer.write(reduced.bytesReceived)
            writer.write(reduced.offset)
            writer.write(reduced.values)
        case .reducerNote(let note):
            writer.write(note.step)
            writer.write(note.shardID)
            writer.write(note.shardSpan)
            writer.write(note.verdict)
            writer.write(note.reason)
            writer.write(note.token)
        default:
            preconditionFailure("\(message.kind) is not a reducer message")
        }
    }

    /// The optimizer travels as its kind's name, then its hyper-parameters as f32 (REDUCER_ASSIGN,
    /// LOCAL_STEPS).
    static func writeOptimizer(_ optimizer: OptimizerSettings, into writer: inout PayloadWriter) {
        writer.write(optimizer.kind.rawValue)
        writer.write(optimizer.momentum)
        writer.write(optimizer.beta1)
        writer.write(optimizer.beta2)
        writer.write(optimizer.epsilon)
        writer.write(optimizer.weightDecay)
    }

    static func readOptimizer(from reader: inout PayloadReader) throws(WireError) -> OptimizerSettings {
        let kindName = try reader.read(String.self, "optimizer")
        guard let kind = OptimizerKind(rawValue: kindName) else {
            throw .malformedPayload("unknown optimizer \"\(kindName)\"")
        }
        var optimizer = OptimizerSettings(kind: kind)
        optimizer.momentum = try reader.read(Float.self, "momentum")
        optimizer.beta1 = try reader.read(Float.self, "beta1")
        optimizer.beta2 = try reader.read(Float.self, "beta2")
        optimizer.epsilon = try reader.read(Float.self, "epsilon")
        optimizer.weightDecay = try reader.read(Float.self, "weightDecay")
        return optimizer
    }

    private static func writeReducerAssign(_ assign: ReducerAssign, into writer: inout PayloadWriter) {
        writer.write(assign.rank)
        writer.write(assign.heartbeatMilliseconds)
        writer.write(assign.layers)
        writer.write(assign.activation)
        writer.write(assign.shardCount)
        writer.write(assign.boundaries)
        writeOptimizer(assign.optimizer, into: &writer)
        writer.write(assign.updates)
        writer.write(assign.step)
        writer.write(UInt8(assign.broadcast ? 1 : 0))
    }

    static func readReducerPayload(_ kind: MessageKind, from reader: inout PayloadReader) throws(WireError) -> Message {
        switch kind {
        case .reducers:
            return .reducers(try readReducers(from: &reader))
        case .join:
            return .join(Join(token: try reader.read(UInt64.self, "token")))
        case .reducerAssign:
            return .reducerAssign(try readReducerAssign(from: &reader))
        case .rangeState:
            return .rangeState(try readRangeState(from: &reader))
        case .stateRequest:
            let step = try reader.read(UInt64.self, "step")
            let parts = try reader.read(UInt8.self, "parts")
            guard parts != 0, parts & ~7 == 0 else { throw .malformedPayload("parts \(parts)") }
            return .stateRequest(StateRequest(step: step, parts: parts))
        case .reduceStep:
            return .reduceStep(
                ReduceStep(
                    step: try reader.read(UInt64.self, "step"),
                    learningRate: try reader.read(Float.self, "learningRate"),
                    exampleCount: try reader.read(UInt32.self, "exampleCount"),
                    tokens: try reader.read([UInt64].self, "tokens"),
                    shardExamples: try reader.read([UInt32].self, "shardExamples")))
        case .reduced:
            return .reduced(try readReduced(from: &reader))
        case .reducerNote:
            return .reducerNote(try readReducerNote(from: &reader))
        default:
            preconditionFailure("\(kind) is not a reducer message")
        }
    }

    private static func readReducers(from reader: inout PayloadReader) throws(WireError) -> Reducers {
        let reducers = Reducers(
            token: try reader.read(UInt64.self, "token"),
            boundaries: try reader.read([UInt32].self, "boundaries"),
            endpoints: try reader.read([String].self, "endpoints"),
            publicKeys: try reader.read([String].self, "publicKeys"),
            broadcast: try readFlag(from: &reader, "broadcast"))
        guard reducers.token != 0 else { throw .malformedPayload("token 0") }
        try checkBoundaries(reducers.boundaries)
        let count = reducers.boundaries.count - 2
        guard reducers.endpoints.count == count, reducers.publicKeys.count == count else {
            throw .malformedPayload(
                "\(reducers.endpoints.count) endpoints and \(reducers.publicKeys.count) public keys for \(count) reducers"
            )
        }
        guard
            reducers.publicKeys.allSatisfy(\.isEmpty)
                || reducers.publicKeys.allSatisfy({ ZeroMQAuthenticator.decodesAsKey($0) })
        else {
            throw .malformedPayload("publicKeys are neither all empty nor all Z85 keys")
        }
        return reducers
    }

    private static func readReducerAssign(from reader: inout PayloadReader) throws(WireError) -> ReducerAssign {
        let rank = try reader.read(UInt32.self, "rank")
        let heartbeat = try reader.read(UInt32.self, "heartbeatMilliseconds")
        let layers = try reader.read([UInt32].self, "layers")
        let activation = try reader.read(String.self, "activation")
        let shardCount = try reader.read(UInt32.self, "shardCount")
        let boundaries = try reader.read([UInt32].self, "boundaries")
        let optimizer = try readOptimizer(from: &reader)
        let assign = ReducerAssign(
            rank: rank, heartbeatMilliseconds: heartbeat, layers: layers, activation: activation,
            shardCount: shardCount, boundaries: boundaries, optimizer: optimizer,
            updates: try reader.read(UInt64.self, "updates"), step: try reader.read(UInt64.self, "step"),
            broadcast: try readFlag(from: &reader, "broadcast"))
        try checkBoundaries(boundaries)
        guard rank >= 1, Int(rank) < boundaries.count - 1 else {
            throw .malformedPayload("rank \(rank) names no reducer among \(boundaries.count - 1) ranges")
        }
        return assign
    }

    private static func readRangeState(from reader: inout PayloadReader) throws(WireError) -> RangeState {
        let step = try reader.read(UInt64.self, "step")
        let updates = try reader.read(UInt64.self, "updates")
        let offset = try reader.read(UInt32.self, "offset")
        let part = try reader.read(UInt8.self, "part")
        guard part <= RangeState.secondMoment else { throw .malformedPayload("unknown part \(part)") }
        try reader.readPadding(rangeStatePadding, "padding")
        let values = try reader.read(FloatArray.self, "values")
        try checkPiece(offset: offset, count: values.count, limit: RangeState.maxValues)
        return RangeState(step: step, updates: updates, offset: offset, part: part, values: values)
    }

    private static func readReduced(from reader: inout PayloadReader) throws(WireError) -> Reduced {
        let reduced = Reduced(
            step: try reader.read(UInt64.self, "step"),
            marks: try reader.read(UInt32.self, "marks"),
            bytesReceived: try reader.read(UInt64.self, "bytesReceived"),
            offset: try reader.read(UInt32.self, "offset"),
            values: try reader.read(FloatArray.self, "values"))
        // No values: the reducer sent them to the workers itself (`--broadcast reducers`).
        if reduced.values.count > 0 {
            try checkPiece(offset: reduced.offset, count: reduced.values.count, limit: Reduced.maxValues)
        }
        return reduced
    }

    private static func readReducerNote(from reader: inout PayloadReader) throws(WireError) -> ReducerNote {
        let note = ReducerNote(
            step: try reader.read(UInt64.self, "step"),
            shardID: try reader.read(UInt32.self, "shardID"),
            shardSpan: try reader.read(UInt32.self, "shardSpan"),
            verdict: try reader.read(UInt8.self, "verdict"),
            reason: try reader.read(String.self, "reason"),
            token: try reader.read(UInt64.self, "token"))
        guard note.verdict <= ReducerNote.poisoned else { throw .malformedPayload("unknown verdict \(note.verdict)") }
        guard note.shardSpan >= 1, UInt64(note.shardID) + UInt64(note.shardSpan) <= UInt64(UInt32.max) else {
            throw .malformedPayload("shard span \(note.shardSpan) from shard \(note.shardID)")
        }
        return note
    }

    /// A yes-or-no field: a byte, 0 or 1 (any other value would not re-encode as it came).
    private static func readFlag(from reader: inout PayloadReader, _ field: String) throws(WireError) -> Bool {
        let byte = try reader.read(UInt8.self, field)
        guard byte <= 1 else { throw .malformedPayload("\(field) is \(byte), not 0 or 1") }
        return byte == 1
    }

    /// S + 1 boundaries of S ranges, 1 ≤ S ≤ `Reducers.maxRanges`: 0 first, strictly increasing.
    static func checkBoundaries(_ boundaries: [UInt32]) throws(WireError) {
        guard boundaries.count >= 2, boundaries.count - 1 <= Reducers.maxRanges else {
            throw .malformedPayload(
                "\(boundaries.count) boundaries do not make 1…\(Reducers.maxRanges) ranges")
        }
        guard boundaries[0] == 0 else { throw .malformedPayload("the first boundary is \(boundaries[0]), not 0") }
        for index in 1..<boundaries.count where boundaries[index] <= boundaries[index - 1] {
            throw .malformedPayload("boundary \(boundaries[index]) follows \(boundaries[index - 1])")
        }
    }

    /// A CURVE public key as HELLO and REDUCERS carry it: empty, or 40 characters of Z85.
    static func checkPublicKey(_ key: String, _ field: String) throws(WireError) {
        guard key.isEmpty || ZeroMQAuthenticator.decodesAsKey(key) else {
            throw .malformedPayload("\(field) is not a Z85 key")
        }
    }

    /// A piece of the flat parameter vector: not empty, at most `limit` values (one frame's worth),
    /// and inside the u32 offsets.
    private static func checkPiece(offset: UInt32, count: Int, limit: Int) throws(WireError) {
        guard count >= 1, count <= limit, UInt64(offset) + UInt64(count) <= UInt64(UInt32.max) + 1 else {
            throw .malformedPayload("\(count) values from \(offset) (1…\(limit) in u32 offsets)")
        }
    }

    /// A bound on a reducer message's payload, as `payloadSizeEstimate` gives for the others.
    static func reducerPayloadSizeEstimate(_ message: Message) -> Int {
        func size(_ string: String) -> Int { 4 + min(string.utf8.count, WireProtocol.maxStringBytes) }
        switch message {
        case .reducers(let reducers):
            let strings = (reducers.endpoints + reducers.publicKeys).map(size).reduce(0, +)
            return 21 + 4 * reducers.boundaries.count + strings
        case .reducerAssign(let assign):
            let arrays = 4 * (assign.layers.count + assign.boundaries.count)
            return 61 + arrays + size(assign.activation) + size(assign.optimizer.kind.rawValue)
        case .rangeState(let state):
            return 28 + 4 * state.values.count
        case .reduceStep(let step):
            return 24 + 8 * step.tokens.count + 4 * step.shardExamples.count
        case .reduced(let reduced):
            return 28 + 4 * reduced.values.count
        case .reducerNote(let note):
            return 25 + size(note.reason)
        default:
            return 8
        }
    }

    /// Zero bytes after a RANGE_STATE's part: with them its values start 4-byte aligned in the
    /// frame (28 payload bytes after a 28-byte header), so a received piece is read where it lies.
    static let rangeStatePadding = 3
}
