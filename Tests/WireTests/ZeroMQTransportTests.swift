import Testing

@testable import Wire

/// Real sockets on the loopback interface, each test on its own ephemeral port.
@Suite struct ZeroMQTransportTests {
    /// Generous: only reached when a test is about to fail.
    private let patience = 5000

    @Test func boundEndpointResolvesTheWildcardPort() throws {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        defer { router.close() }
        let endpoint = try #require(router.boundEndpoint)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = try #require(Int(endpoint.dropFirst("tcp://127.0.0.1:".count)))
        #expect(port > 0)
    }

    @Test func routerAndTwoDealersExchangeBothWays() throws {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        defer { router.close() }
        let endpoint = try #require(router.boundEndpoint)
        let alpha = try ZeroMQTransport.connect(endpoint)
        defer { alpha.close() }
        let beta = try ZeroMQTransport.connect(endpoint)
        defer { beta.close() }

        try alpha.send(.hello(Hello(name: "alpha:1")))
        try beta.send(.hello(Hello(name: "beta:2")))
        var peers: [String: PeerID] = [:]
        for _ in 0..<2 {
            let received = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
            guard case .hello(let hello) = try received.message.get() else {
                Issue.record("expected HELLO")
                return
            }
            let peer: PeerID = try #require(received.peer)
            peers[hello.name] = peer
        }
        let alphaPeer = try #require(peers["alpha:1"])
        let betaPeer = try #require(peers["beta:2"])
        #expect(alphaPeer != betaPeer)

        func welcome(rank: UInt32) -> Message {
            .welcome(
                Welcome(
                    rank: rank, heartbeatMilliseconds: 500, threads: 1, layers: [4, 2], activation: "relu", seed: 1
                ))
        }
        try router.send(welcome(rank: 1), to: betaPeer)
        try router.send(welcome(rank: 0), to: alphaPeer)
        let toAlpha = try #require(try alpha.receiveMessage(timeoutMilliseconds: patience))
        let toBeta = try #require(try beta.receiveMessage(timeoutMilliseconds: patience))
        #expect(toAlpha.peer == nil)
        #expect(try toAlpha.message.get() == welcome(rank: 0))
        #expect(try toBeta.message.get() == welcome(rank: 1))
        #expect(try alpha.receive(timeoutMilliseconds: 0) == nil)
    }

    @Test func multiFrameMessagesCrossTheSocketWhole() throws {
        let (router, dealer, peer) = try connectedPair()
        defer {
            router.close()
            dealer.close()
        }
        try LargeExchange.run(router: router, dealer: dealer, peer: peer)
    }

    @Test func receiveReturnsNilWhenNothingArrives() throws {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        defer { router.close() }
        #expect(try router.receive(timeoutMilliseconds: 0) == nil)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try router.receive(timeoutMilliseconds: 50) == nil)
        #expect(clock.now - start >= .milliseconds(45))
    }

    @Test func sendingToAnUnknownPeerThrows() throws {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        defer { router.close() }
        let stranger = PeerID(bytes: [0, 1, 2, 3, 4])
        #expect(throws: WireError.peerUnreachable(stranger)) {
            try router.send(SampleMessages.heartbeat, to: stranger)
        }
    }

    @Test func damagedFramesArriveAsDecodeFailures() throws {
        let (router, dealer, peer) = try connectedPair()
        defer {
            router.close()
            dealer.close()
        }
        var frames = MessageCodec.encode(SampleMessages.partial)
        frames[0][40] ^= 1
        try dealer.send(frames)
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        #expect(received.peer == peer)
        #expect { try received.message.get() } throws: { error in
            if case WireError.badChecksum = error { true } else { false }
        }
    }

    @Test func addressingIsChecked() throws {
        let (router, dealer, _) = try connectedPair()
        defer {
            router.close()
            dealer.close()
        }
        #expect { try router.send(SampleMessages.bye) } throws: { error in
            if case WireError.misaddressed = error { true } else { false }
        }
        #expect { try dealer.send(SampleMessages.bye, to: PeerID(bytes: [1])) } throws: { error in
            if case WireError.misaddressed = error { true } else { false }
        }
        #expect(throws: WireError.emptyMessage) { try dealer.send([]) }
    }

    @Test func everyOptionIsAccepted() throws {
        var options = ZeroMQOptions()
        options.lingerMilliseconds = 10
        options.sendHighWaterMark = 50
        options.receiveHighWaterMark = 50
        options.maxMessageBytes = -1
        options.heartbeatIntervalMilliseconds = 100
        options.heartbeatTimeoutMilliseconds = 300
        options.heartbeatTTLMilliseconds = 500
        options.immediate = true
        options.sendTimeoutMilliseconds = 1000
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*", options: options)
        defer { router.close() }
        let dealer = try ZeroMQTransport.connect(try #require(router.boundEndpoint), options: options)
        defer { dealer.close() }
        try dealer.send(SampleMessages.shardReady)
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        #expect(try received.message.get() == SampleMessages.shardReady)
    }

    /// With `immediate`, a DEALER that has no connection cannot queue, so the send times out.
    @Test func sendWithoutAConnectionTimesOut() throws {
        // An IPC path nobody listens on; a TCP port could be reused by a parallel test.
        let endpoint = "ipc:///tmp/descent-wire-test-\(UInt64.random(in: 0...UInt64.max))"
        var options = ZeroMQOptions()
        options.immediate = true
        options.sendTimeoutMilliseconds = 30
        let dealer = try ZeroMQTransport.connect(endpoint, options: options)
        defer { dealer.close() }
        #expect(throws: WireError.timedOut) { try dealer.send(SampleMessages.heartbeat) }
    }

    @Test func closedTransportThrowsClosed() throws {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        router.close()
        router.close()
        #expect(router.boundEndpoint == nil)
        #expect(throws: WireError.closed) { try router.receive(timeoutMilliseconds: 0) }
        #expect(throws: WireError.closed) { try router.send(SampleMessages.bye, to: PeerID(bytes: [1])) }
    }

    @Test func badEndpointIsAZeroMQError() {
        #expect { try ZeroMQTransport.bind("nonsense://here") } throws: { error in
            if case WireError.zmq(let operation, _, let message) = error {
                operation.contains("zmq_bind") && !message.isEmpty
            } else {
                false
            }
        }
    }

    /// A ROUTER with one DEALER that has introduced itself, and the DEALER's identity.
    /// `sendIfRoom` sends while the peer's queue has room, then says no without blocking;
    /// nothing it said yes to is lost, and once the peer reads there is room again.
    @Test func sendIfRoomStopsAtTheHighWaterMarkAndLosesNothing() throws {
        var routerOptions = ZeroMQOptions()
        routerOptions.sendHighWaterMark = 2
        routerOptions.kernelBufferBytes = 64 << 10
        var dealerOptions = ZeroMQOptions()
        dealerOptions.receiveHighWaterMark = 1
        dealerOptions.kernelBufferBytes = 64 << 10
        let (router, dealer, peer) = try connectedPair(routerOptions, dealerOptions)
        defer {
            router.close()
            dealer.close()
        }

        let frame = MessageCodec.encode(.shardReady(ShardReady(shardID: 1, examples: 2)))[0]
        let big = [frame + [UInt8](repeating: 7, count: 256 << 10)]
        var sent = 0
        while sent < 200, try router.sendIfRoom(big, to: peer) { sent += 1 }
        #expect(sent < 200, "the queue never filled")
        #expect(sent >= 2, "not even the queue's own room was used")

        var received = 0
        while received < sent, try dealer.receive(timeoutMilliseconds: patience) != nil { received += 1 }
        #expect(received == sent)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(patience)
        var roomAgain = false
        while !roomAgain && clock.now < deadline { roomAgain = try router.sendIfRoom(big, to: peer) }
        #expect(roomAgain, "no room after the peer read everything")
    }

    private func connectedPair(
        _ routerOptions: ZeroMQOptions = ZeroMQOptions(), _ dealerOptions: ZeroMQOptions = ZeroMQOptions()
    ) throws -> (ZeroMQTransport, ZeroMQTransport, PeerID) {
        let router = try ZeroMQTransport.bind("tcp://127.0.0.1:*", options: routerOptions)
        let dealer = try ZeroMQTransport.connect(try #require(router.boundEndpoint), options: dealerOptions)
        try dealer.send(SampleMessages.hello)
        let hello = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        #expect(try hello.message.get() == SampleMessages.hello)
        let peer: PeerID = try #require(hello.peer)
        return (router, dealer, peer)
    }
}
