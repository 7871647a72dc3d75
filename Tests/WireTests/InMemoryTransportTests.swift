import Foundation
import Testing

@testable import Wire

@Suite struct InMemoryTransportTests {
    @Test func pairRoundTripsBothWays() throws {
        let (router, dealer) = InMemoryTransport.pair()
        try dealer.send(SampleMessages.hello)
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: 1000))
        #expect(received.peer == dealer.peerID)
        #expect(try received.message.get() == SampleMessages.hello)

        let peer: PeerID = try #require(received.peer)
        try router.send(SampleMessages.largeStep, to: peer)
        let reply = try #require(try dealer.receiveMessage(timeoutMilliseconds: 1000))
        #expect(reply.peer == nil)
        #expect(try reply.message.get() == SampleMessages.largeStep)
    }

    @Test func routerTellsDealersApartAndRepliesToEach() throws {
        let router = InMemoryTransport.router()
        let first = router.connectDealer()
        let second = router.connectDealer()
        #expect(first.peerID != second.peerID)

        try second.send(.heartbeat(Heartbeat(step: 2)))
        try first.send(.heartbeat(Heartbeat(step: 1)))
        let fromSecond = try #require(try router.receiveMessage(timeoutMilliseconds: 0))
        let fromFirst = try #require(try router.receiveMessage(timeoutMilliseconds: 0))
        #expect(fromSecond.peer == second.peerID)
        #expect(try fromSecond.message.get() == .heartbeat(Heartbeat(step: 2)))
        #expect(fromFirst.peer == first.peerID)

        let firstPeer: PeerID = try #require(first.peerID)
        let ready = Message.shardReady(ShardReady(shardID: 1, examples: 1))
        try router.send(ready, to: firstPeer)
        #expect(try second.receive(timeoutMilliseconds: 0) == nil)
        #expect(try first.receiveMessage(timeoutMilliseconds: 0)?.message.get() == ready)
    }

    @Test func receiveTimesOutWithNil() throws {
        let (router, dealer) = InMemoryTransport.pair()
        #expect(try router.receive(timeoutMilliseconds: 0) == nil)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try dealer.receive(timeoutMilliseconds: 30) == nil)
        #expect(clock.now - start >= .milliseconds(25))
    }

    @Test func receiveWakesWhenAMessageArrives() throws {
        let (router, dealer) = InMemoryTransport.pair()
        // The sender is a thread of its own: a task could wait behind other tests' work in the
        // cooperative pool for longer than the receive's timeout.
        let sender = Thread {
            usleep(20_000)
            try? dealer.send([[1, 2, 3]])
        }
        sender.start()
        let envelope = try router.receive(timeoutMilliseconds: 5000)
        #expect(envelope == Envelope(peer: dealer.peerID, frames: [[1, 2, 3]], senderProcessID: getpid()))
    }

    @Test func decodeFailuresAreReturnedNotThrown() throws {
        let (router, dealer) = InMemoryTransport.pair()
        try dealer.send([[0xDE, 0xAD]])
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: 0))
        #expect(received.peer == dealer.peerID)
        #expect(throws: WireError.truncated(expected: 28, got: 2)) { try received.message.get() }
    }

    @Test func addressingIsChecked() throws {
        let (router, dealer) = InMemoryTransport.pair()
        #expect(throws: WireError.peerUnreachable(PeerID(bytes: [9]))) {
            try router.send(SampleMessages.bye, to: PeerID(bytes: [9]))
        }
        #expect { try router.send(SampleMessages.bye) } throws: { error in
            if case WireError.misaddressed = error { true } else { false }
        }
        #expect { try dealer.send(SampleMessages.bye, to: PeerID(bytes: [9])) } throws: { error in
            if case WireError.misaddressed = error { true } else { false }
        }
        #expect(throws: WireError.emptyMessage) { try dealer.send([]) }
    }

    @Test func closedEndpointsRefuseAndVanish() throws {
        let (router, dealer) = InMemoryTransport.pair()
        let peer = try #require(dealer.peerID)
        dealer.close()
        dealer.close()
        #expect(throws: WireError.closed) { try dealer.send(SampleMessages.bye) }
        #expect(throws: WireError.closed) { try dealer.receive(timeoutMilliseconds: 0) }
        #expect(throws: WireError.peerUnreachable(peer)) { try router.send(SampleMessages.bye, to: peer) }
    }

    /// Through the protocols the roles hold: PARAMS encoded once and sent as the same frames,
    /// `sendIfRoom` always finding room, and a worker's in-place frame arriving as the codec's.
    @Test func servesTheRolesThroughTheirProtocols() throws {
        let memory = InMemoryTransport.router()
        let coordinator: CoordinatorTransport = memory
        let worker: WorkerTransport = memory.connectDealer()
        worker.beginSession(bytesInFlight: 1 << 20)
        try worker.send(SampleMessages.hello)
        let peer = try #require(try coordinator.receiveMessage(timeoutMilliseconds: 1000)?.peer)
        #expect(coordinator.boundEndpoint != nil && coordinator.route(to: peer) == nil)
        let values: [Float] = [1, -2, 3.5]
        try values.withUnsafeBufferPointer { values throws in
            let params = OutgoingParams(step: 9, values: values)
            let bytes = try coordinator.send(params, to: peer)
            #expect(bytes == params.frames.reduce(0) { $0 + $1.count })
        }
        #expect(
            try worker.receiveMessage(timeoutMilliseconds: 1000)?.message.get()
                == .params(Params(step: 9, values: [1, -2, 3.5])))
        #expect(try coordinator.sendIfRoom(MessageCodec.encode(SampleMessages.heartbeat), to: peer))
        #expect(try worker.receiveMessage(timeoutMilliseconds: 1000)?.message.get() == SampleMessages.heartbeat)
        let partial = Partial(
            step: 9, shardID: 1, exampleCount: 2, correctCount: 1, lossSum: 0.5, gradients: .float32([4, 5]))
        let frameBytes = try #require(MessageCodec.partialFrameBytes(count: 2))
        try [Float(4), 5].withUnsafeBufferPointer { gradients throws in
            try worker.send(frameBytes: frameBytes) { frame, place in
                #expect(place == .socket)
                MessageCodec.encodePartial(partial, gradients: gradients, into: frame, for: place)
            }
        }
        let received = try #require(try coordinator.receive(timeoutMilliseconds: 1000))
        #expect(received.frames == MessageCodec.encode(.partial(partial)))
        coordinator.forget(peer)
        #expect(coordinator.sharedMemoryCounters == SharedMemoryCounters() && worker.handshakeFailure() == nil)
    }
}
