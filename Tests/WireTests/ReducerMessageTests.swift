import Core
import Testing

@testable import Wire

/// The reducers' messages (protocol 9) and HELLO's reducer fields: each check of the decoder
/// refuses what it should, with the error it names, and what it lets through round trips. The
/// encoder does not judge fields, so a message with a bad one encodes, and only decoding refuses it.
@Suite("Reducer messages")
struct ReducerMessageTests {
    private let key = SampleMessages.curvePublicKey

    private func decodeError(_ message: Message) -> WireError? {
        TestFrames.decodeError(MessageCodec.encode(message))
    }

    private func reducers(
        token: UInt64 = 9, boundaries: [UInt32] = [0, 10, 20], endpoints: [String] = ["tcp://a:1"],
        publicKeys: [String] = [""]
    ) -> Message {
        .reducers(Reducers(token: token, boundaries: boundaries, endpoints: endpoints, publicKeys: publicKeys))
    }

    // MARK: HELLO

    @Test func helloCarriesTheReducerEndpointAndKey() throws {
        guard case .hello(let hello) = try MessageCodec.decode(MessageCodec.encode(SampleMessages.reducerHello)) else {
            Issue.record("not a HELLO")
            return
        }
        #expect(hello.reducerEndpoint == "tcp://10.0.0.9:5700")
        #expect(hello.reducerPublicKey == key)
        #expect(hello.relayEndpoint == "")
        // A worker that reduces nothing sends both empty, and they decode as such.
        guard case .hello(let plain) = try MessageCodec.decode(MessageCodec.encode(SampleMessages.hello)) else {
            Issue.record("not a HELLO")
            return
        }
        #expect(plain.reducerEndpoint == "" && plain.reducerPublicKey == "")
    }

    @Test(arguments: [
        "short", String(SampleMessages.curvePublicKey.dropLast()), SampleMessages.curvePublicKey + "a",
        "\"" + SampleMessages.curvePublicKey.dropFirst(),
    ])
    func aReducerKeyThatIsNotZ85IsRefused(_ bad: String) {
        let hello = Message.hello(Hello(name: "r:1", reducerEndpoint: "tcp://r:1", reducerPublicKey: bad))
        #expect(decodeError(hello) == .malformedPayload("reducerPublicKey is not a Z85 key"))
    }

    // MARK: REDUCERS

    @Test func reducersRoundTripWithAndWithoutKeys() throws {
        for message in [SampleMessages.reducers, SampleMessages.noReducers, reducers()] {
            #expect(try MessageCodec.decode(MessageCodec.encode(message)) == message)
        }
    }

    @Test func reducersNeedANonzeroToken() {
        #expect(decodeError(reducers(token: 0)) == .malformedPayload("token 0"))
    }

    @Test func reducersBoundariesAreChecked() {
        #expect(
            decodeError(reducers(boundaries: [0], endpoints: [], publicKeys: []))
                == .malformedPayload("1 boundaries do not make 1…64 ranges"))
        #expect(decodeError(reducers(boundaries: [1, 10, 20])) == .malformedPayload("the first boundary is 1, not 0"))
        #expect(decodeError(reducers(boundaries: [0, 10, 10])) == .malformedPayload("boundary 10 follows 10"))
        #expect(decodeError(reducers(boundaries: [0, 10, 5])) == .malformedPayload("boundary 5 follows 10"))
        let most = (0...UInt32(Reducers.maxRanges)).map { $0 * 10 }
        let fits = reducers(
            boundaries: most, endpoints: Array(repeating: "tcp://a:1", count: 63),
            publicKeys: Array(repeating: "", count: 63))
        #expect(decodeError(fits) == nil)
        let tooMany = reducers(
            boundaries: most + [10_000], endpoints: Array(repeating: "tcp://a:1", count: 64),
            publicKeys: Array(repeating: "", count: 64))
        #expect(decodeError(tooMany) == .malformedPayload("66 boundaries do not make 1…64 ranges"))
    }

    @Test func reducersNeedOneEndpointAndKeyPerReducer() {
        #expect(
            decodeError(reducers(endpoints: [], publicKeys: [""]))
                == .malformedPayload("0 endpoints and 1 public keys for 1 reducers"))
        #expect(
            decodeError(reducers(endpoints: ["tcp://a:1"], publicKeys: []))
                == .malformedPayload("1 endpoints and 0 public keys for 1 reducers"))
    }

    @Test func reducersKeysAreAllEmptyOrAllZ85() {
        let endpoints = ["tcp://a:1", "tcp://b:1"]
        #expect(decodeError(reducers(boundaries: [0, 1, 2, 3], endpoints: endpoints, publicKeys: [key, key])) == nil)
        let mixed = reducers(boundaries: [0, 1, 2, 3], endpoints: endpoints, publicKeys: [key, ""])
        #expect(decodeError(mixed) == .malformedPayload("publicKeys are neither all empty nor all Z85 keys"))
        let bad = reducers(boundaries: [0, 1, 2, 3], endpoints: endpoints, publicKeys: [key, "not a key"])
        #expect(decodeError(bad) == .malformedPayload("publicKeys are neither all empty nor all Z85 keys"))
    }

    @Test func aBoundaryCountTooLongForItsPayloadIsRefusedBeforeAllocating() {
        var payload = TestFrames.Payload()
        payload.append(UInt64(9))
        payload.append(UInt32.max)
        let frame = TestFrames.frame(.init(kind: MessageKind.reducers.rawValue), payload: payload.bytes)
        #expect(
            TestFrames.decodeError([frame])
                == .malformedPayload("boundaries needs \(4 * Int(UInt32.max)) bytes, only 0 remain"))
    }

    // MARK: REDUCER_ASSIGN

    private func assign(rank: UInt32, boundaries: [UInt32] = [0, 10, 20, 30]) -> Message {
        .reducerAssign(
            ReducerAssign(
                rank: rank, heartbeatMilliseconds: 500, layers: [3, 2], activation: "relu", shardCount: 4,
                boundaries: boundaries, optimizer: OptimizerSettings(kind: .momentum), updates: 0, step: 5))
    }

    @Test func anAssignmentNamesAReducersRange() {
        #expect(decodeError(assign(rank: 1)) == nil)
        #expect(decodeError(assign(rank: 2)) == nil)
        #expect(decodeError(assign(rank: 0)) == .malformedPayload("rank 0 names no reducer among 3 ranges"))
        #expect(decodeError(assign(rank: 3)) == .malformedPayload("rank 3 names no reducer among 3 ranges"))
        #expect(
            decodeError(assign(rank: 1, boundaries: [0, 10, 10, 30])) == .malformedPayload("boundary 10 follows 10"))
    }

    @Test(arguments: OptimizerKind.allCases)
    func everyOptimizerRoundTrips(_ kind: OptimizerKind) throws {
        var message = SampleMessages.reducerAssign
        if case .reducerAssign(var assign) = message {
            assign.optimizer.kind = kind
            message = .reducerAssign(assign)
        }
        #expect(try MessageCodec.decode(MessageCodec.encode(message)) == message)
    }

    @Test func anUnknownOptimizerIsRefused() throws {
        let frames = MessageCodec.encode(SampleMessages.reducerAssign)
        // "adam" is the only place these bytes appear: its length, then its four letters.
        let adam: [UInt8] = [4, 0, 0, 0] + Array("adam".utf8)
        var payload = TestFrames.payload(of: frames[0])
        let at = try #require((0...(payload.count - adam.count)).first { Array(payload[$0..<$0 + adam.count]) == adam })
        payload.replaceSubrange(at + 4..<at + 8, with: Array("lamb".utf8))
        let frame = TestFrames.frame(TestFrames.header(of: frames[0]).withDefaults, payload: payload)
        #expect(TestFrames.decodeError([frame]) == .malformedPayload("unknown optimizer \"lamb\""))
    }

    // MARK: RANGE_STATE and REDUCED

    private func rangeState(offset: UInt32 = 0, part: UInt8 = 0, count: Int) -> Message {
        .rangeState(
            RangeState(
                step: 1, updates: 0, offset: offset, part: part,
                values: FloatArray(SampleMessages.distinctFloats(count))))
    }

    private func reduced(offset: UInt32 = 0, count: Int) -> Message {
        .reduced(
            Reduced(
                step: 1, marks: 0, bytesReceived: 0, offset: offset,
                values: FloatArray(SampleMessages.distinctFloats(count))))
    }

    @Test func aStateRequestAsksForSomePartThatExists() {
        for parts: UInt8 in [1, 2, 4, 6, 7] {
            #expect(decodeError(.stateRequest(StateRequest(step: 1, parts: parts))) == nil)
        }
        for parts: UInt8 in [0, 8, 255] {
            #expect(
                decodeError(.stateRequest(StateRequest(step: 1, parts: parts))) == .malformedPayload("parts \(parts)"))
        }
    }

    @Test func aRangeStatePartIsValuesOrAMoment() {
        for part in [RangeState.values, RangeState.firstMoment, RangeState.secondMoment] {
            #expect(decodeError(rangeState(part: part, count: 3)) == nil)
        }
        #expect(decodeError(rangeState(part: 3, count: 3)) == .malformedPayload("unknown part 3"))
        #expect(decodeError(rangeState(part: 255, count: 3)) == .malformedPayload("unknown part 255"))
    }

    @Test func piecesAreNeitherEmptyNorPastTheOffsets() {
        let limit = RangeState.maxValues
        #expect(decodeError(rangeState(count: 0)) == .malformedPayload("0 values from 0 (1…\(limit) in u32 offsets)"))
        // A REDUCED without values says the reducer sent them to the workers itself.
        #expect(decodeError(reduced(count: 0)) == nil)
        #expect(decodeError(rangeState(offset: UInt32.max, count: 1)) == nil)
        #expect(
            decodeError(rangeState(offset: UInt32.max, count: 2))
                == .malformedPayload("2 values from \(UInt32.max) (1…\(limit) in u32 offsets)"))
        #expect(decodeError(reduced(offset: UInt32.max - 1, count: 2)) == nil)
        #expect(
            decodeError(reduced(offset: UInt32.max - 1, count: 3))
                == .malformedPayload("3 values from \(UInt32.max - 1) (1…\(limit) in u32 offsets)"))
    }

    /// The most values that fit one frame travel in one; one more would need two, and is refused.
    @Test func aPieceFitsOneFrame() {
        #expect(RangeState.maxValues == Reduced.maxValues)
        let limit = RangeState.maxValues
        for message in [rangeState(count: limit), reduced(count: limit)] {
            let frames = MessageCodec.encode(message)
            #expect(frames.count == 1 && frames[0].count <= WireProtocol.headerSize + WireProtocol.maxFramePayload)
            #expect(TestFrames.decodeError(frames) == nil)
        }
        for message in [rangeState(count: limit + 1), reduced(count: limit + 1)] {
            let frames = MessageCodec.encode(message)
            #expect(frames.count == 2)
            #expect(
                TestFrames.decodeError(frames)
                    == .malformedPayload("\(limit + 1) values from 0 (1…\(limit) in u32 offsets)"))
        }
    }

    /// Their values lie 4-byte aligned in the frame (56 bytes in), so they are read where they arrived.
    @Test func piecesAreReadWhereTheyLie() throws {
        for message in [SampleMessages.rangeState, SampleMessages.reduced] {
            let frame = MessageCodec.encode(message)[0]
            let values: FloatArray
            switch try MessageCodec.decode([frame]) {
            case .rangeState(let state): values = state.values
            case .reduced(let reduced): values = reduced.values
            default:
                Issue.record("decoded as another kind")
                continue
            }
            let first = try #require(values.receivedFloats)
            #expect(
                first.pointee.bitPattern
                    == TestFrames.payload(of: frame)[28..<32].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        }
    }

    @Test func aRangeStatesPaddingIsZero() {
        var frame = MessageCodec.encode(SampleMessages.rangeState)[0]
        frame[WireProtocol.headerSize + 21] = 1
        let resealed = TestFrames.frame(
            TestFrames.header(of: frame).withDefaults, payload: TestFrames.payload(of: frame))
        #expect(TestFrames.decodeError([resealed]) == .malformedPayload("padding is not zero"))
    }

    // MARK: REDUCE_STEP and REDUCER_NOTE

    @Test func aTokenCountTooLongForItsPayloadIsRefusedBeforeAllocating() {
        var payload = TestFrames.Payload()
        payload.append(UInt64(4))
        payload.append(Float(0.5).bitPattern)
        payload.append(UInt32(32))
        payload.append(UInt32.max)
        let frame = TestFrames.frame(.init(kind: MessageKind.reduceStep.rawValue, step: 4), payload: payload.bytes)
        #expect(
            TestFrames.decodeError([frame])
                == .malformedPayload("tokens needs \(8 * Int(UInt32.max)) bytes, only 0 remain"))
    }

    @Test func aNotesVerdictAndSpanAreChecked() {
        func note(shardID: UInt32 = 0, shardSpan: UInt32 = 1, verdict: UInt8 = ReducerNote.complete) -> Message {
            .reducerNote(ReducerNote(step: 2, shardID: shardID, shardSpan: shardSpan, verdict: verdict))
        }
        #expect(decodeError(note()) == nil)
        #expect(decodeError(note(verdict: ReducerNote.poisoned)) == nil)
        #expect(decodeError(note(verdict: 2)) == .malformedPayload("unknown verdict 2"))
        #expect(decodeError(note(shardSpan: 0)) == .malformedPayload("shard span 0 from shard 0"))
        #expect(decodeError(note(shardID: UInt32.max - 1, shardSpan: 1)) == nil)
        #expect(
            decodeError(note(shardID: UInt32.max - 1, shardSpan: 2))
                == .malformedPayload("shard span 2 from shard \(UInt32.max - 1)"))
    }

    // MARK: Header

    @Test func theHeaderCarriesTheStepOfEveryMessageThatHasOne() {
        let steps: [(Message, UInt64)] = [
            (SampleMessages.reducers, 0), (SampleMessages.join, 0), (SampleMessages.reducerAssign, 42),
            (SampleMessages.rangeState, 42), (SampleMessages.stateRequest, 42), (SampleMessages.reduceStep, 43),
            (SampleMessages.reduced, 43), (SampleMessages.reducerNote, 43),
        ]
        for (message, step) in steps {
            let frame = MessageCodec.encode(message)[0]
            #expect(TestFrames.header(of: frame).step == step, "\(message.kind)")
            // A header whose step disagrees with the payload's is refused.
            let other = TestFrames.edit(frame) { $0.step = step + 1 }
            guard case .malformedPayload = TestFrames.decodeError([other]) else {
                Issue.record("\(message.kind): a header step unlike the payload's was accepted")
                continue
            }
        }
    }

    @Test func kindsAndNamesAreTheProtocols() {
        let kinds: [MessageKind] = [
            .reducers, .join, .reducerAssign, .rangeState, .stateRequest, .reduceStep, .reduced, .reducerNote,
        ]
        #expect(kinds.map(\.rawValue) == Array(13...20))
        #expect(
            kinds.map(\.description) == [
                "REDUCERS", "JOIN", "REDUCER_ASSIGN", "RANGE_STATE", "STATE_REQUEST", "REDUCE_STEP", "REDUCED",
                "REDUCER_NOTE",
            ])
        #expect(WireProtocol.protocolVersion == 10)
    }
}
