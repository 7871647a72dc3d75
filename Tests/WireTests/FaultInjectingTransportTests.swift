import Core
import Foundation
import Testing

@testable import Wire

/// Each rule of `FaultInjectingTransport` acts on the messages it picks and on no other, over an
/// in-memory ROUTER and DEALER (the faulty side being the DEALER, as in a worker).
@Suite struct FaultInjectingTransportTests {
    /// The halts a transport asked for, instead of carrying them out on the test process.
    final class HaltLog: @unchecked Sendable {
        private let lock = Lock()
        private var entriesUnlocked: [String] = []
        var entries: [String] { lock.withLock { entriesUnlocked } }

        func record(_ halt: FaultRule.Halt, _ kind: MessageKind, _ step: UInt64) {
            lock.withLock { entriesUnlocked.append("\(halt) \(kind) \(step)") }
        }
    }

    struct Fixture {
        let router: InMemoryTransport
        let dealer: InMemoryTransport
        let faulty: FaultInjectingTransport
        let halts = HaltLog()

        init(_ rules: [FaultRule]) {
            (router, dealer) = InMemoryTransport.pair()
            let halts = halts
            faulty = FaultInjectingTransport(wrapping: dealer, rules: rules) { halts.record($0, $1, $2) }
        }

        /// Every message that reaches the ROUTER until none comes for 100 ms, as decoded.
        func routerReceives() throws -> [Result<Message, WireError>] {
            var messages: [Result<Message, WireError>] = []
            while let (_, message) = try router.receiveMessage(timeoutMilliseconds: 100) {
                messages.append(message)
            }
            return messages
        }

        /// Sends `message` from the ROUTER to the DEALER.
        func routerSends(_ message: Message) throws {
            try router.send(message, to: dealer.peerID!)
        }
    }

    static func partial(step: UInt64, gradients: PartialGradients = .float32([1.5, -2, 0.25])) -> Message {
        .partial(
            Partial(
                step: step, shardID: 2, segment: 1, exampleCount: 32, correctCount: 30, lossSum: 4.5,
                computeSeconds: 0.01,
                gradients: gradients))
    }

    static func welcome(rank: UInt32) -> Message {
        .welcome(
            Welcome(rank: rank, heartbeatMilliseconds: 500, threads: 1, layers: [4, 3], activation: "relu", seed: 1))
    }

    static func stepMessage(_ step: UInt64) -> Message {
        .step(Step(step: step, plan: [ShardWork(shard: 0, selection: .range(0..<8))]))
    }

    // MARK: Outgoing

    @Test func dropRemovesOnlyTheKindAndStepItNames() throws {
        let fixture = Fixture([FaultRule(.outgoing, .partial, step: 3, action: .drop)])
        for message in [
            Self.partial(step: 2), Self.partial(step: 3), .heartbeat(Heartbeat(step: 3)), Self.partial(step: 4),
        ] {
            try fixture.faulty.send(message)
        }
        let received = try fixture.routerReceives().map { try $0.get() }
        #expect(received == [Self.partial(step: 2), .heartbeat(Heartbeat(step: 3)), Self.partial(step: 4)])
    }

    @Test func duplicateSendsTheMessageTwice() throws {
        let fixture = Fixture([FaultRule(.outgoing, .partial, action: .duplicate)])
        try fixture.faulty.send(Self.partial(step: 7))
        try fixture.faulty.send(.heartbeat(Heartbeat(step: 7)))
        let received = try fixture.routerReceives().map { try $0.get() }
        #expect(received == [Self.partial(step: 7), Self.partial(step: 7), .heartbeat(Heartbeat(step: 7))])
    }

    @Test func delayHoldsBackOnlyThePickedMessages() throws {
        let delay = Duration.milliseconds(200)
        let fixture = Fixture([FaultRule(.outgoing, .partial, action: .delay(delay))])
        let clock = ContinuousClock()
        let heartbeat = try clock.measure { try fixture.faulty.send(.heartbeat(Heartbeat(step: 1))) }
        let partial = try clock.measure { try fixture.faulty.send(Self.partial(step: 1)) }
        #expect(partial >= delay, "the PARTIAL left after \(partial)")
        #expect(heartbeat < delay, "the HEARTBEAT, which no rule picks, took \(heartbeat)")
        let received = try fixture.routerReceives().map { try $0.get() }
        #expect(received == [.heartbeat(Heartbeat(step: 1)), Self.partial(step: 1)])
    }

    @Test func payloadByteCorruptionFailsTheChecksum() throws {
        let fixture = Fixture([FaultRule(.outgoing, .partial, step: 9, action: .corrupt(.payloadByte))])
        try fixture.faulty.send(Self.partial(step: 9))
        try fixture.faulty.send(Self.partial(step: 10))
        let received = try fixture.routerReceives()
        try #require(received.count == 2)
        guard case .failure(.badChecksum) = received[0] else {
            Issue.record("expected a checksum failure, got \(received[0])")
            return
        }
        #expect(try received[1].get() == Self.partial(step: 10))
    }

    @Test(arguments: [
        PartialGradients.float32([1.5, -2, 0.25]),
        .float16(HalfArray([0x3C00, 0xBC00, 0x0001, 0x7BFF])),
        .bfloat16(HalfArray([0x3F80, 0xC000])),
    ])
    func nanGradientsGiveAWellFormedPartialOfNaN(gradients: PartialGradients) throws {
        let fixture = Fixture([FaultRule(.outgoing, .partial, step: 5, action: .corrupt(.nanGradients))])
        try fixture.faulty.send(Self.partial(step: 5, gradients: gradients))
        try fixture.faulty.send(Self.partial(step: 6, gradients: gradients))
        let received = try fixture.routerReceives().map { try $0.get() }
        try #require(received.count == 2)
        guard case .partial(let poisoned) = received[0],
            case .partial(let expected) = Self.partial(step: 5, gradients: gradients)
        else {
            Issue.record("expected a PARTIAL, got \(received[0])")
            return
        }
        #expect(poisoned.encoding == gradients.encoding && poisoned.gradients.count == gradients.count)
        #expect(Self.values(poisoned.gradients).allSatisfy { $0.isNaN }, "\(poisoned.gradients)")
        var rest = poisoned
        rest.gradients = expected.gradients
        #expect(rest == expected, "fields other than the gradients changed")
        #expect(received[1] == Self.partial(step: 6, gradients: gradients))
    }

    @Test func protocolVersionIsClaimedInHeaderAndPayload() throws {
        let fixture = Fixture([FaultRule(.outgoing, .hello, action: .corrupt(.protocolVersion(99)))])
        try fixture.faulty.send(.hello(Hello(name: "w")))
        let envelope = try #require(try fixture.router.receive(timeoutMilliseconds: 1000))
        #expect(throws: WireError.versionMismatch(expected: WireProtocol.protocolVersion, got: 99)) {
            try MessageCodec.decode(envelope.frames)
        }
        // The checksum covers the payload alone: with this build's version back in the header
        // the frame reads, and its payload claims 99 too.
        var frame = try #require(envelope.frames.first)
        frame[4] = UInt8(WireProtocol.protocolVersion & 0xFF)
        frame[5] = UInt8(WireProtocol.protocolVersion >> 8)
        #expect(try MessageCodec.decode([frame]) == .hello(Hello(protocolVersion: 99, name: "w")))
    }

    // MARK: Rank

    @Test func aRuleWithARankWaitsForAWelcomeWithThatRank() throws {
        let fixture = Fixture([FaultRule(.outgoing, .partial, rank: 1, action: .drop)])
        #expect(fixture.faulty.rank == nil)
        try fixture.faulty.send(Self.partial(step: 1))

        try fixture.routerSends(Self.welcome(rank: 0))
        _ = try #require(try fixture.faulty.receive(timeoutMilliseconds: 1000))
        #expect(fixture.faulty.rank == 0)
        try fixture.faulty.send(Self.partial(step: 2))

        try fixture.routerSends(Self.welcome(rank: 1))
        _ = try #require(try fixture.faulty.receive(timeoutMilliseconds: 1000))
        #expect(fixture.faulty.rank == 1)
        try fixture.faulty.send(Self.partial(step: 3))

        let received = try fixture.routerReceives().map { try $0.get() }
        #expect(received == [Self.partial(step: 1), Self.partial(step: 2)])
    }

    // MARK: Incoming

    @Test func haltActsAsThePickedMessageArrivesThenDeliversIt() throws {
        let fixture = Fixture([
            FaultRule(.incoming, .step, step: 5, action: .halt(.stop)),
            FaultRule(.incoming, .params, step: 6, action: .halt(.exit(status: 3))),
        ])
        try fixture.routerSends(Self.stepMessage(4))
        try fixture.routerSends(Self.stepMessage(5))
        try fixture.routerSends(.params(Params(step: 6, values: [3])))
        try fixture.routerSends(.params(Params(step: 7, values: [1, 2])))

        var delivered: [[[UInt8]]] = []
        while let envelope = try fixture.faulty.receive(timeoutMilliseconds: 100) {
            delivered.append(envelope.frames)
        }
        #expect(fixture.halts.entries == ["stop STEP 5", "exit(status: 3) PARAMS 6"])
        #expect(
            try delivered.map { try MessageCodec.decode($0) } == [
                Self.stepMessage(4), Self.stepMessage(5), .params(Params(step: 6, values: [3])),
                .params(Params(step: 7, values: [1, 2])),
            ])
    }

    @Test func aDroppedArrivalDoesNotEndTheWait() throws {
        let fixture = Fixture([FaultRule(.incoming, .heartbeat, action: .drop)])
        try fixture.routerSends(.heartbeat(Heartbeat(step: 0)))
        try fixture.routerSends(Self.stepMessage(1))
        let envelope = try #require(try fixture.faulty.receive(timeoutMilliseconds: 1000))
        #expect(try MessageCodec.decode(envelope.frames) == Self.stepMessage(1))

        try fixture.routerSends(.heartbeat(Heartbeat(step: 0)))
        #expect(try fixture.faulty.receive(timeoutMilliseconds: 100) == nil)
    }

    @Test func incomingDuplicateAndCorruption() throws {
        let fixture = Fixture([
            FaultRule(.incoming, .step, step: 2, action: .duplicate),
            FaultRule(.incoming, .step, step: 3, action: .corrupt(.payloadByte)),
        ])
        for step: UInt64 in 1...3 { try fixture.routerSends(Self.stepMessage(step)) }
        var received: [Result<Message, WireError>] = []
        while let (_, message) = try fixture.faulty.receiveMessage(timeoutMilliseconds: 100) {
            received.append(message)
        }
        try #require(received.count == 4)
        #expect(
            try received[0...2].map { try $0.get() } == [Self.stepMessage(1), Self.stepMessage(2), Self.stepMessage(2)])
        guard case .failure(.badChecksum) = received[3] else {
            Issue.record("expected a checksum failure, got \(received[3])")
            return
        }
    }

    /// Frames that carry no header a rule could pick (a reference into a shared ring, garbage)
    /// pass as they are.
    @Test func framesWithoutAHeaderPassUntouched() throws {
        let fixture = Fixture([
            FaultRule(.outgoing, .partial, action: .drop), FaultRule(.outgoing, .hello, action: .drop),
        ])
        let ring = RingReference(position: 64, length: 1 << 20).bytes
        let garbage: [UInt8] = [1, 2, 3]
        try fixture.faulty.send([ring])
        try fixture.faulty.send([garbage])
        var arrived: [[[UInt8]]] = []
        while let envelope = try fixture.router.receive(timeoutMilliseconds: 100) {
            arrived.append(envelope.frames)
        }
        #expect(arrived == [[ring], [garbage]])
    }

    static func values(_ gradients: PartialGradients) -> [Float] {
        switch gradients {
        case .float32(let values): values.array
        case .float16(let bits): bits.array.map { $0 & 0x7C00 == 0x7C00 && $0 & 0x03FF != 0 ? .nan : 0 }
        case .bfloat16(let bits): bits.array.map { Float(bitPattern: UInt32($0) << 16) }
        }
    }
}
