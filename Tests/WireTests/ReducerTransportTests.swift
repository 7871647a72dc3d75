import Testing

@testable import Wire

/// The reducers' transports over real sockets on the loopback interface: `ReducerDealer` takes
/// pieces only from connections that joined with an allowed token, and `ReducerConnections`
/// reaches it, in plaintext and over CURVE.
@Suite struct ReducerTransportTests {
    /// Generous: only reached when a test is about to fail.
    private let patience = 5000

    /// A coordinator's ROUTER and a reducer on it, the reducer's HELLO received: the coordinator's
    /// identity for the reducer comes back too.
    private func reducer(curve: CurveSecurity? = nil) throws -> (ZeroMQTransport, ReducerDealer, PeerID) {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        let link = try ZeroMQTransport.connect(try #require(router.boundEndpoint))
        let dealer = try ReducerDealer(over: link, bind: "tcp://127.0.0.1:*", curve: curve)
        try dealer.send(.hello(Hello(name: "reducer:1", reducerEndpoint: dealer.endpoint)))
        let hello = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        guard case .hello(let received) = try hello.message.get() else { throw WireError.malformedPayload("no HELLO") }
        #expect(received.reducerEndpoint == dealer.endpoint)
        return (router, dealer, try #require(hello.peer))
    }

    private func piece(_ shard: UInt32) -> Message {
        .partial(
            Partial(
                step: 5, shardID: shard, exampleCount: 4, correctCount: 1, lossSum: 2,
                gradients: .float32(FloatArray(SampleMessages.distinctFloats(16, seed: Float(shard))))))
    }

    /// The dealer's next message other than a JOIN (which it delivers so that a reducer can send a
    /// late joiner its parameters; `aJoinIsDeliveredWithItsConnection` checks those).
    private func next(_ dealer: ReducerDealer, _ timeout: Int) throws -> Envelope? {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(timeout)
        repeat {
            let left = max(0, Int((deadline - clock.now) / .milliseconds(1)))
            guard let envelope = try dealer.receive(timeoutMilliseconds: left) else { return nil }
            if case .success(.join) = dealer.decode(envelope) { continue }
            return envelope
        } while clock.now < deadline
        return nil
    }

    /// Receives until `dealer.refused` reaches `refused`, recording whatever is delivered meanwhile.
    private func drain(_ dealer: ReducerDealer, untilRefused refused: Int) throws -> [Envelope] {
        var delivered: [Envelope] = []
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(patience)
        while dealer.refused < refused && clock.now < deadline {
            if let envelope = try next(dealer, 20) { delivered.append(envelope) }
        }
        return delivered
    }

    @Test func theInboxTakesOnlyPiecesFromConnectionsJoinedWithAnAllowedToken() throws {
        let (router, dealer, reducerPeer) = try reducer()
        defer {
            dealer.close()
            router.close()
        }
        #expect(dealer.endpoint.hasPrefix("tcp://127.0.0.1:") && !dealer.endpoint.hasSuffix(":*"))
        #expect(dealer.publicKey == "")
        dealer.allowedTokens = [7]
        let stranger = try ZeroMQTransport.connect(dealer.endpoint)
        let impostor = try ZeroMQTransport.connect(dealer.endpoint)
        let member = try ZeroMQTransport.connect(dealer.endpoint)
        defer {
            for socket in [stranger, impostor, member] { socket.close() }
        }
        try stranger.send(piece(1))
        try impostor.send(.join(Join(token: 8)))
        try impostor.send(piece(2))
        try member.send(.join(Join(token: 7)))
        try member.send(piece(3))

        let first = try #require(try next(dealer, patience))
        #expect(try dealer.decode(first).get() == piece(3))
        let memberPeer = try #require(first.peer)
        #expect(dealer.token(of: memberPeer) == 7)
        // The stranger's is dropped and counted; the impostor's is held while its token is not
        // allowed; JOINs are delivered, and skipped here (`next`).
        #expect(try drain(dealer, untilRefused: 1).isEmpty)
        #expect(dealer.refused == 1)
        #expect(try next(dealer, 100) == nil)

        // The coordinator's messages come with no peer.
        try router.send(SampleMessages.reduceStep, to: reducerPeer)
        let fromCoordinator = try #require(try next(dealer, patience))
        #expect(fromCoordinator.peer == nil)
        #expect(try dealer.decode(fromCoordinator).get() == SampleMessages.reduceStep)
        try dealer.send(SampleMessages.reduced)
        #expect(try router.receiveMessage(timeoutMilliseconds: patience)?.message.get() == SampleMessages.reduced)

        // A token no longer allowed is held back; allowed again, what it sent meanwhile comes
        // first, and the connection need not join again.
        dealer.allowedTokens = []
        try member.send(piece(4))
        #expect(try next(dealer, 200) == nil)
        dealer.allowedTokens = [7]
        try member.send(piece(5))
        for expected in [piece(4), piece(5)] {
            let again = try #require(try next(dealer, patience))
            #expect(again.peer == memberPeer)
            #expect(try dealer.decode(again).get() == expected)
        }
        // The impostor's token allowed, its held piece comes; the stranger's never does.
        dealer.allowedTokens = [7, 8]
        let held = try #require(try next(dealer, patience))
        #expect(try dealer.decode(held).get() == piece(2))
        #expect(dealer.token(of: try #require(held.peer)) == 8)
        #expect(try next(dealer, 100) == nil)
        #expect(dealer.refused == 1)
    }

    @Test func aJoinIsDeliveredWithItsConnection() throws {
        let (router, dealer, _) = try reducer()
        defer {
            dealer.close()
            router.close()
        }
        let worker = try ZeroMQTransport.connect(dealer.endpoint)
        defer { worker.close() }
        try worker.send(.join(Join(token: 21)))
        let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
        #expect(try dealer.decode(envelope).get() == .join(Join(token: 21)))
        let peer = try #require(envelope.peer)
        #expect(dealer.token(of: peer) == 21)
        #expect(dealer.peers(joinedWith: [21]) == [peer])
        #expect(dealer.peers(joinedWith: [22]).isEmpty)
        // What the reducer sends that connection (its range of W, b) reaches the worker.
        #expect(dealer.send(MessageCodec.encode(SampleMessages.paramsPart), toWorker: peer))
        #expect(try worker.receiveMessage(timeoutMilliseconds: patience)?.message.get() == SampleMessages.paramsPart)
    }

    /// A worker may join, and send pieces, before the reducer has read the REDUCE_STEP that lists
    /// its token: they come once the token is allowed.
    @Test func aJoinAndItsPiecesWaitUntilTheTokenIsAllowed() throws {
        let (router, dealer, _) = try reducer()
        defer {
            dealer.close()
            router.close()
        }
        let early = try ZeroMQTransport.connect(dealer.endpoint)
        defer { early.close() }
        try early.send(.join(Join(token: 11)))
        try early.send(piece(1))
        #expect(try next(dealer, 200) == nil)
        dealer.allowedTokens = [11]
        try early.send(piece(2))
        for expected in [piece(1), piece(2)] {
            let envelope = try #require(try next(dealer, patience))
            #expect(try dealer.decode(envelope).get() == expected)
        }
        #expect(dealer.refused == 0)
    }

    /// The coordinator steers a reducer; its workers only send it pieces. From the inbox, even a
    /// connection joined with an allowed token gets nothing but PARTIALs through: REDUCE_STEP,
    /// RANGE_STATE and every other kind are refused by kind, never held, never delivered.
    @Test func theInboxTakesNoOtherKindThanPartialEvenFromAMember() throws {
        let (router, dealer, _) = try reducer()
        defer {
            dealer.close()
            router.close()
        }
        dealer.allowedTokens = [7]
        let member = try ZeroMQTransport.connect(dealer.endpoint)
        defer { member.close() }
        try member.send(.join(Join(token: 7)))
        let steering: [Message] = [
            SampleMessages.reduceStep, SampleMessages.reducerAssign, SampleMessages.rangeState,
            SampleMessages.stateRequest, SampleMessages.welcome, SampleMessages.bye, SampleMessages.refuse,
            SampleMessages.heartbeat, SampleMessages.hello, SampleMessages.reducers, SampleMessages.reduced,
            SampleMessages.reducerNote, SampleMessages.params, SampleMessages.step,
        ]
        for message in steering { try member.send(message) }
        try member.send([[0x54, 0x43, 0x53, 0x44, 9, 0, 42, 0] + [UInt8](repeating: 0, count: 20)])
        try member.send(piece(3))
        // The connection's messages arrive in order: the piece after all the refused ones, perhaps
        // in the same receive that refused the last of them.
        var delivered = try drain(dealer, untilRefused: steering.count + 1)
        if delivered.isEmpty, let piece = try next(dealer, patience) { delivered.append(piece) }
        #expect(try delivered.map { try dealer.decode($0).get() } == [piece(3)])
        #expect(dealer.refused == steering.count + 1)
        #expect(dealer.heldCount == 0)
        #expect(try next(dealer, 100) == nil)
    }

    /// A peer joined with a made-up token that floods the hold pushes out its own messages, not
    /// those of a worker whose token is not allowed yet.
    @Test func aFloodingTokenPushesOutOnlyItsOwnHeldMessages() throws {
        let (router, dealer, _) = try reducer()
        defer {
            dealer.close()
            router.close()
        }
        let worker = try ZeroMQTransport.connect(dealer.endpoint)
        let flooder = try ZeroMQTransport.connect(dealer.endpoint)
        defer {
            worker.close()
            flooder.close()
        }
        try worker.send(.join(Join(token: 21)))
        try worker.send(piece(1))
        try worker.send(piece(2))
        try flooder.send(.join(Join(token: 666)))
        let flood = ReducerDealer.maxHeld + 10
        for _ in 0..<flood { try flooder.send(piece(5)) }
        #expect(try drain(dealer, untilRefused: 12).isEmpty)
        #expect(dealer.refused == 12 && dealer.heldCount == ReducerDealer.maxHeld)
        dealer.allowedTokens = [21]
        for expected in [piece(1), piece(2)] {
            let envelope = try #require(try next(dealer, patience))
            #expect(try dealer.decode(envelope).get() == expected)
        }
    }

    @Test(arguments: [false, true])
    func connectionsReachEachReducerTheyAreSentTo(curve: Bool) throws {
        let keys = curve ? [try CurveKeys.generate(), try CurveKeys.generate()] : []
        let (routerA, reducerA, _) = try reducer(curve: keys.first.map { .server(secretKey: $0.secretKey) })
        // The second reducer is given the keys it connects to the coordinator with.
        let (routerB, reducerB, _) = try reducer(
            curve: keys.last.map { .client(secretKey: $0.secretKey, publicKey: $0.publicKey, serverPublicKey: "") })
        defer {
            for dealer in [reducerA, reducerB] { dealer.close() }
            for router in [routerA, routerB] { router.close() }
        }
        #expect([reducerA.publicKey, reducerB.publicKey] == (curve ? keys.map(\.publicKey) : ["", ""]))
        for dealer in [reducerA, reducerB] { dealer.allowedTokens = [0xABCD] }

        let worker = try ReducerConnections(
            endpoints: [reducerA.endpoint, reducerB.endpoint], publicKeys: [reducerA.publicKey, reducerB.publicKey],
            token: 0xABCD, clientKeys: curve ? try CurveKeys.generate() : nil)
        defer { worker.close() }
        try worker.send(piece(1), toReducer: 1)
        try worker.send(MessageCodec.encode(piece(2)), toReducer: 2)
        for (dealer, expected) in [(reducerA, piece(1)), (reducerB, piece(2))] {
            let envelope = try #require(try next(dealer, patience))
            #expect(try dealer.decode(envelope).get() == expected)
            #expect(dealer.token(of: try #require(envelope.peer)) == 0xABCD)
            #expect(dealer.refused == 0)
        }
        #expect(worker.handshakeFailure(ofReducer: 1) == nil)
        for reducer in [0, 3] {
            #expect { try worker.send(piece(1), toReducer: reducer) } throws: { error in
                if case WireError.misaddressed = error { true } else { false }
            }
        }
    }

    /// Without the reducer's key a CURVE inbox takes nothing: the handshake fails.
    @Test func aCurveInboxRefusesAClientThatDoesNotKnowItsKey() throws {
        let keys = try CurveKeys.generate()
        let (router, dealer, _) = try reducer(curve: .server(secretKey: keys.secretKey))
        defer {
            dealer.close()
            router.close()
        }
        dealer.allowedTokens = [3]
        let wrongKey = try CurveKeys.generate().publicKey
        let worker = try ReducerConnections(endpoints: [dealer.endpoint], publicKeys: [wrongKey], token: 3)
        defer { worker.close() }
        try worker.send(piece(1), toReducer: 1)
        #expect(try next(dealer, 300) == nil)
        let plaintext = try ReducerConnections(endpoints: [dealer.endpoint], publicKeys: [""], token: 3)
        defer { plaintext.close() }
        try plaintext.send(piece(1), toReducer: 1)
        #expect(try next(dealer, 300) == nil)
    }

    /// A DEALER given a routing id is known to the ROUTER by it, so a reconnection keeps its JOIN.
    @Test func aRoutingIDIsThePeersIdentity() throws {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        defer { router.close() }
        var options = ZeroMQOptions()
        options.routingID = [9, 0, 8, 7]
        let dealer = try ZeroMQTransport.connect(try #require(router.boundEndpoint), options: options)
        defer { dealer.close() }
        try dealer.send(SampleMessages.join)
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        #expect(received.peer == PeerID(bytes: [9, 0, 8, 7]))
        #expect(try received.message.get() == SampleMessages.join)
    }

    /// A reducer that is not there never holds a worker up for long: once its queue is full a
    /// send gives up after the timeout, and `sendIfRoom` at once.
    @Test func aDeadReducerTimesSendsOut() throws {
        // An IPC path nobody listens on; a TCP port could be reused by a parallel test.
        let endpoint = "ipc:///tmp/descent-reducer-test-\(UInt64.random(in: 0...UInt64.max))"
        let worker = try ReducerConnections(
            endpoints: [endpoint], publicKeys: [""], token: 1, sendTimeoutMilliseconds: 50)
        defer { worker.close() }
        let frames = MessageCodec.encode(piece(1))
        var sent = 0
        let clock = ContinuousClock()
        let start = clock.now
        #expect(throws: WireError.timedOut) {
            while sent < 1000 {
                try worker.send(frames, toReducer: 1)
                sent += 1
            }
        }
        #expect(clock.now - start < .seconds(2))
        // The JOIN took one place in the queue.
        #expect(sent == Int(ReducerConnections.sendHighWaterMark) - 1)
    }
}
