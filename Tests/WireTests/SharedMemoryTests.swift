import Core
import Foundation
import Testing

@testable import Wire

/// Frames through memory shared by a worker and its coordinator (`SharedRegion`), and the
/// shared-memory layer over a transport (`SharedMemoryRouter`, `SharedMemoryDealer`).
@Suite struct SharedMemoryTests {
    private let patience = 5000

    /// The worker's region and the coordinator's mapping of it, in this one process.
    private func regionPair(capacity: Int = 64 << 10) throws -> (worker: SharedRegion, coordinator: SharedRegion) {
        let worker = try SharedRegion.create(RingSizes(toCoordinator: capacity, toWorker: capacity))
        let coordinator = try SharedRegion.open(pid: getpid(), fd: worker.fileDescriptor, sizes: worker.sizes)
        return (worker, coordinator)
    }

    private func frame(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    @Test func framesCrossBothRingsThroughManyWrapArounds() throws {
        let (worker, coordinator) = try regionPair()
        var random = SplitMix64(seed: 11)
        for index in 0..<400 {
            let count = Int(random.next() % UInt64(worker.capacity / 3)) + 1
            let up = frame(count, seed: UInt64(index))
            let upReference = try #require(worker.write(up))
            #expect(coordinator.read(upReference) == up)
            let down = frame(count / 2 + 1, seed: UInt64(index) + 1000)
            let downReference = try #require(coordinator.write(down))
            #expect(worker.read(downReference) == down)
        }
        let empty = try #require(worker.write([]))
        #expect(coordinator.read(empty) == [])
    }

    @Test func aFullRingRefusesUntilItsReaderCatchesUp() throws {
        let (worker, coordinator) = try regionPair()
        let quarter = frame(worker.capacity / 4, seed: 1)
        let written = (0..<4).compactMap { _ in worker.write(quarter) }
        #expect(written.count == 4)
        #expect(worker.write([1]) == nil, "the ring is full")
        #expect(coordinator.read(written[0]) == quarter)
        let again = try #require(worker.write(quarter), "room once the first was read")
        #expect(worker.write([1]) == nil)
        for reference in written.dropFirst() + [again] { #expect(coordinator.read(reference) == quarter) }
        #expect(worker.write(frame(worker.capacity + 1, seed: 2)) == nil, "larger than the ring")
        #expect(worker.write(frame(worker.capacity * 3 / 4, seed: 3)) != nil, "the rest of the ring once all was read")
    }

    /// A frame nearly a ring long after a small one: once the small one is read, the ring is
    /// empty and the long one wraps to its start. (A ring that held one parameter set and little
    /// more once took none after the last shard chunk, so every PARAMS took the socket.)
    @Test func anEmptiedRingTakesAFrameNearlyAsLongWhereverItsHeadStands() throws {
        let (worker, coordinator) = try regionPair()
        for round in 0..<3 {
            let small = frame(1000 + round, seed: UInt64(round))
            let smallReference = try #require(coordinator.write(small))
            #expect(worker.read(smallReference) == small)
            let long = frame(coordinator.capacity - 64 * (round + 1), seed: UInt64(round) + 100)
            let written = coordinator.write(long)
            let longReference = try #require(written, "round \(round): the ring is empty")
            #expect(coordinator.write(small) == nil, "round \(round): the long frame is unread")
            #expect(worker.read(longReference) == long)
        }
    }

    @Test func referencesOutsideTheRingAndForgedCursorsAreRefused() throws {
        let (worker, coordinator) = try regionPair()
        let capacity = UInt64(worker.capacity)
        #expect(coordinator.read(RingReference(position: 0, length: capacity + 1)) == nil)
        #expect(coordinator.read(RingReference(position: capacity - 10, length: 11)) == nil)
        #expect(coordinator.read(RingReference(position: .max, length: .max)) == nil)
        // The reader's cursor lives in shared memory: one that claims more than was written, or
        // lags by more than a ring, leaves the writer refusing rather than overwriting.
        let cursor = (worker.base + 64).assumingMemoryBound(to: UInt64.self)
        cursor.pointee = 1 << 40
        #expect(worker.write([1, 2, 3]) == nil)
        cursor.pointee = 0
        #expect(worker.write([1, 2, 3]) != nil)
    }

    @Test func onlyARegionMadeForFramesOpens() throws {
        let region = try SharedRegion.create(RingSizes(toCoordinator: 4096, toWorker: 8192))
        let swapped = RingSizes(toCoordinator: region.sizes.toWorker, toWorker: region.sizes.toCoordinator)
        #expect(throws: WireError.self) {
            try SharedRegion.open(pid: getpid(), fd: region.fileDescriptor, sizes: swapped)
        }
        #expect(throws: WireError.self) { try SharedRegion.open(pid: getpid(), fd: 0, sizes: region.sizes) }
        #expect(throws: WireError.self) {
            try SharedRegion.open(pid: -1, fd: region.fileDescriptor, sizes: region.sizes)
        }
        #expect(throws: WireError.self) {
            try SharedRegion.open(
                pid: getpid(), fd: region.fileDescriptor, sizes: RingSizes(toCoordinator: 0, toWorker: 8192))
        }
        #expect(
            try SharedRegion.open(pid: getpid(), fd: region.fileDescriptor, sizes: region.sizes).sizes == region.sizes)
    }

    @Test func handshakeAndReferenceFramesRoundTripAndAreNeverCodecFrames() throws {
        let offer = RegionHandshake(offer: 42, fd: 7, sizes: RingSizes(toCoordinator: 1 << 19, toWorker: 1 << 20))
        #expect(offer.bytes == [0x44, 0x53, 0x4D, 0x4F, 42, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0x10, 0])
        #expect(RegionHandshake.boardAnswer(accepted: true).bytes == [0x44, 0x53, 0x4D, 0x43, 1, 0, 0, 0])
        let handshakes = [
            offer, RegionHandshake(accepted: true), RegionHandshake(accepted: false),
            .boardOffer(pid: 42, fd: 9, slotBytes: 940_096), .boardAnswer(accepted: true),
            .boardAnswer(accepted: false),
        ]
        for handshake in handshakes {
            #expect(RegionHandshake(handshake.bytes) == handshake)
            #expect(throws: WireError.self) { try MessageCodec.decode([handshake.bytes]) }
        }
        let reference = RingReference(position: 123_456, length: 789)
        #expect(RingReference(reference.bytes) == reference)
        #expect(
            reference.bytes == [0x44, 0x53, 0x4D, 0x52, 0x40, 0xE2, 0x01, 0, 0, 0, 0, 0, 0x15, 0x03, 0, 0, 0, 0, 0, 0])
        #expect(throws: WireError.self) { try MessageCodec.decode([reference.bytes]) }
        for frame in MessageCodec.encode(SampleMessages.hello) {
            #expect(RegionHandshake(frame) == nil)
            #expect(RingReference(frame) == nil)
        }
    }

    // MARK: Through the layer

    /// A router and a dealer on ipc:// whose shared memory is set up (or refused) before this returns.
    private func ipcPair(
        capacity: Int, receiving: Int? = nil, routerOptions: ZeroMQOptions = ZeroMQOptions()
    ) throws -> (SharedMemoryRouter, SharedMemoryDealer, PeerID, URL) {
        try IPCFixture.pair(capacity: capacity, receiving: receiving, routerOptions: routerOptions)
    }

    private func counters(sent: Int, received: Int, withoutRoom: Int) -> SharedMemoryCounters {
        var counters = SharedMemoryCounters()
        counters.framesSent = sent
        counters.framesReceived = received
        counters.framesSentWithoutRoom = withoutRoom
        return counters
    }

    @Test func largeFramesGoThroughSharedMemoryOnIPCAndArriveIntact() throws {
        let (router, dealer, peer, directory) = try ipcPair(capacity: 12 << 20)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(dealer.usesSharedMemory)
        #expect(router.route(to: peer) == "large frames go through shared memory")

        for _ in 0..<3 { try LargeExchange.run(router: router, dealer: dealer, peer: peer) }
        // Every large frame of those messages went through the rings; small ones kept to the socket.
        let large = LargeExchange.sharedFrames
        let step = 3 * large(SampleMessages.largeStep)
        let partial = 3 * large(SampleMessages.largePartial)
        #expect(router.sharedMemoryCounters.framesSent == step && router.sharedMemoryCounters.framesReceived == partial)
        #expect(dealer.sharedMemoryCounters.framesSent == partial && dealer.sharedMemoryCounters.framesReceived == step)
        let partialBytes = MessageCodec.encode(SampleMessages.largePartial).filter {
            $0.count >= SharedMemoryTransport.frameBytes
        }
        #expect(router.sharedMemoryCounters.bytesReceived == 3 * partialBytes.reduce(0) { $0 + $1.count })
    }

    /// The layer works over any transport: here one in this process, where every envelope names
    /// this process as its sender.
    @Test func theLayerWorksOverTheInMemoryTransportToo() throws {
        let memory = InMemoryTransport.router()
        let router = SharedMemoryRouter(over: memory, parameterCount: 1000, maxFrameBytes: -1)
        let dealer = SharedMemoryDealer(over: memory.connectDealer())
        defer {
            router.close()
            dealer.close()
        }
        let peer = try IPCFixture.handshake(
            router: router, dealer: dealer, capacity: 12 << 20, receiving: nil, boardToo: true)
        #expect(dealer.usesSharedMemory)
        #expect(
            router.route(to: peer) == "large frames go through shared memory; it computes from the shared parameters")
        try LargeExchange.run(router: router, dealer: dealer, peer: peer)
        #expect(router.sharedMemoryCounters.framesReceived == LargeExchange.sharedFrames(SampleMessages.largePartial))
    }

    /// A frame damaged before it went into the ring is refused for its checksum once copied out.
    @Test func aDamagedFrameThroughSharedMemoryIsRefusedForItsChecksum() throws {
        let (router, dealer, peer, directory) = try ipcPair(capacity: 12 << 20)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        // Three frames, the two full ones through the ring, the short last one through the
        // socket; the second damaged.
        var frames = MessageCodec.encode(SampleMessages.largePartial)
        #expect(
            frames.count == 3 && frames.map { $0.count >= SharedMemoryTransport.frameBytes } == [true, true, false])
        frames[1][frames[1].count / 2] ^= 0x10
        try dealer.send(frames)
        let envelope = try #require(try router.receive(timeoutMilliseconds: patience))
        #expect(envelope.peer == peer && router.sharedMemoryCounters.framesReceived == 2)
        guard case .failure(.badChecksum) = router.decode(envelope) else {
            Issue.record("a damaged frame was not refused for its checksum")
            return
        }
        // Undamaged, the same message decodes.
        try dealer.send(MessageCodec.encode(SampleMessages.largePartial))
        let intact = try #require(try router.receive(timeoutMilliseconds: patience))
        #expect(try router.decode(intact).get() == SampleMessages.largePartial)
    }

    /// A frame a dealer encodes in place goes straight into its ring when it is large and there
    /// is room — flagged `inSharedMemory`, without a checksum — and otherwise into a checksummed
    /// frame of its own through the socket; each arrives intact. The flag is honoured only on a
    /// frame the router reads in the ring: sent through the socket, it is refused.
    @Test func aFrameEncodedInPlaceGoesIntoTheRingOrElseTheSocket() throws {
        func send(_ dealer: SharedMemoryDealer, _ values: [Float]) throws -> Message {
            let partial = Partial(
                step: 4, shardID: 0, segment: 1, exampleCount: 8, correctCount: 2, lossSum: 3, computeSeconds: 0,
                gradients: .float32(FloatArray(values)))
            let size = try #require(MessageCodec.partialFrameBytes(count: values.count))
            try values.withUnsafeBufferPointer { gradients in
                try dealer.send(frameBytes: size) { frame, place in
                    MessageCodec.encodePartial(partial, gradients: gradients, into: frame, for: place)
                }
            }
            return .partial(partial)
        }
        let (router, dealer, peer, directory) = try ipcPair(capacity: 1 << 20)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(dealer.usesSharedMemory)
        let large = SampleMessages.distinctFloats(100_000, seed: 0.5)
        let small = SampleMessages.distinctFloats(100, seed: 1.5)
        for (values, shared) in [(large, 1), (small, 1), (large, 2)] {
            let sent = try send(dealer, values)
            let envelope = try #require(try router.receive(timeoutMilliseconds: patience))
            let inRing = values.count == large.count
            #expect(envelope.framesFromSharedMemory == (inRing ? [0] : []))
            // In the ring it is read where it lies (flagged, or the router would have copied it out).
            let size = MessageCodec.partialFrameBytes(count: values.count)
            #expect(envelope.inPlaceFrameBytes == (inRing ? size : nil) && envelope.byteCount == size)
            if !inRing { #expect(envelope.frames[0][7] == 0, "a checksummed frame of its own") }
            let intact = try router.decode(envelope).get() == sent
            #expect(envelope.peer == peer && intact)
            #expect(dealer.sharedMemoryCounters.framesSent == shared, "\(values.count) values")
            #expect(router.sharedMemoryCounters.framesReceived == shared, "\(values.count) values")
        }
        // Larger than the ring: a frame of its own, through the socket.
        let tooLarge = SampleMessages.distinctFloats(300_000, seed: 2.5)
        let sent = try send(dealer, tooLarge)
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        let intact = try received.message.get() == sent
        #expect(intact)
        #expect(dealer.sharedMemoryCounters.framesSent == 2 && dealer.sharedMemoryCounters.framesSentWithoutRoom == 1)
        // A peer that flags a frame it sends through the socket gains nothing: it is refused.
        let size = try #require(MessageCodec.partialFrameBytes(count: small.count))
        let forged = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            small.withUnsafeBufferPointer { gradients in
                let partial = Partial(
                    step: 4, shardID: 0, exampleCount: 8, correctCount: 2, lossSum: 3, gradients: .float32([]))
                MessageCodec.encodePartial(partial, gradients: gradients, into: buffer.baseAddress!, for: .sharedMemory)
            }
            initialized = size
        }
        try dealer.send([forged])
        let refused = try #require(try router.receive(timeoutMilliseconds: patience))
        #expect(refused.framesFromSharedMemory.isEmpty)
        guard case .failure(.unsupportedFlags(FrameHeader.inSharedMemory)) = router.decode(refused) else {
            Issue.record("a frame flagged as shared memory was taken from the socket")
            return
        }
    }

    @Test func framesTooLargeForTheRingTakeTheSocket() throws {
        let (router, dealer, peer, directory) = try ipcPair(capacity: 64 << 10)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(dealer.usesSharedMemory)
        try LargeExchange.run(router: router, dealer: dealer, peer: peer)
        let large = LargeExchange.sharedFrames
        #expect(
            router.sharedMemoryCounters == counters(sent: 0, received: 0, withoutRoom: large(SampleMessages.largeStep)))
        #expect(
            dealer.sharedMemoryCounters
                == counters(sent: 0, received: 0, withoutRoom: large(SampleMessages.largePartial)))
    }

    /// Each way has its own ring: a frame too large for one still goes through the other.
    @Test func eachWayHasARingOfItsOwnSize() throws {
        let (router, dealer, peer, directory) = try ipcPair(capacity: 64 << 10, receiving: 12 << 20)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        try LargeExchange.run(router: router, dealer: dealer, peer: peer)
        let large = LargeExchange.sharedFrames
        #expect(
            router.sharedMemoryCounters.framesSent == large(SampleMessages.largeStep),
            "the step's frames go through the large ring")
        #expect(router.sharedMemoryCounters.framesReceived == 0, "the partial's do not")
        #expect(
            dealer.sharedMemoryCounters.framesSent == 0
                && dealer.sharedMemoryCounters.framesReceived == large(SampleMessages.largeStep))
    }

    /// A way without a ring (0 bytes, as a worker offers toward itself): its frames take the socket,
    /// the other way still uses shared memory, and a reference into the missing ring is refused,
    /// not followed.
    @Test func aWayWithoutARingKeepsToTheSocket() throws {
        #expect(RingSizes(toCoordinator: 4096, toWorker: 0).isValid)
        #expect(!RingSizes(toCoordinator: 0, toWorker: 0).isValid)
        #expect(
            RingSizes(toCoordinator: 100, toWorker: 0).rounded(to: 4096) == RingSizes(toCoordinator: 4096, toWorker: 0))
        let (router, dealer, peer, directory) = try ipcPair(capacity: 12 << 20, receiving: 0)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(dealer.usesSharedMemory)
        try LargeExchange.run(router: router, dealer: dealer, peer: peer)
        let large = LargeExchange.sharedFrames
        #expect(
            router.sharedMemoryCounters.framesSent == 0
                && router.sharedMemoryCounters.framesReceived == large(SampleMessages.largePartial))
        #expect(
            dealer.sharedMemoryCounters.framesSent == large(SampleMessages.largePartial)
                && dealer.sharedMemoryCounters.framesReceived == 0)
        try router.send([RingReference(position: 0, length: 64).bytes], to: peer)
        let forged = try #require(try dealer.receiveMessage(timeoutMilliseconds: patience))
        guard case .failure = forged.message else {
            Issue.record("a reference into a ring that does not exist was followed: \(forged.message)")
            return
        }
        #expect(dealer.sharedMemoryCounters.framesReceived == 0)
    }

    /// The frame limit libzmq keeps on the socket holds for frames in shared memory too: a
    /// reference to a longer one is not followed, and the message fails to decode (a reference is
    /// shorter than a frame header).
    @Test func framesLongerThanTheLimitAreNotTakenFromSharedMemory() throws {
        var limited = ZeroMQOptions()
        limited.maxMessageBytes = 256 << 10
        let (router, dealer, _, directory) = try ipcPair(capacity: 12 << 20, routerOptions: limited)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(dealer.usesSharedMemory)
        try dealer.send(SampleMessages.largePartial)
        let received = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
        guard case .failure = received.message else {
            Issue.record("a 2 MiB frame was taken past a 256 KiB limit: \(received.message)")
            return
        }
        #expect(router.sharedMemoryCounters.framesReceived == 0)
    }

    /// References that together name more than the ring holds — one frame named again and again
    /// — are not all followed: a peer cannot make the receiver copy more than a ring per message.
    @Test func oneMessageCannotNameMoreThanARingOfFrames() throws {
        let (router, dealer, peer, directory) = try ipcPair(capacity: 1 << 20)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        let frame = [UInt8](repeating: 7, count: 300 << 10)
        // The real frame goes through the ring; the reference the router then gets is repeated.
        try dealer.send([frame])
        _ = try #require(try router.receive(timeoutMilliseconds: patience))
        let reference = RingReference(position: 0, length: UInt64(frame.count)).bytes
        // Frames this small take the socket as they are: a message of ten references to it.
        try dealer.send(Array(repeating: reference, count: 10))
        let received = try #require(try router.receive(timeoutMilliseconds: patience))
        #expect(received.peer == peer)
        #expect(received.frames.filter { $0 == frame }.count == 3, "a 1 MiB ring holds three 300 KiB frames at most")
        #expect(received.frames.filter { $0 == reference }.count == 7)
    }

    /// Memory is shared only on ipc:// without CURVE; a dealer whose coordinator has no layer gets
    /// no answer to its offer (the coordinator drops it as undecodable) and keeps to the socket.
    @Test func sharedMemoryAppliesOnlyOverIPCAndWithoutAMatchingLayerStaysOff() throws {
        #expect(SharedMemoryTransport.applies(to: "ipc:///tmp/x.sock", encrypted: false))
        #expect(!SharedMemoryTransport.applies(to: "ipc:///tmp/x.sock", encrypted: true), "CURVE would be bypassed")
        #expect(
            !SharedMemoryTransport.applies(to: "tcp://127.0.0.1:5555", encrypted: false),
            "TCP peers may be on other machines")

        let (endpoint, directory) = try IPCFixture.endpoint()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plain = try ZeroMQTransport.bind(endpoint)
        defer { plain.close() }
        let dealer = SharedMemoryDealer(over: try ZeroMQTransport.connect(endpoint))
        defer { dealer.close() }
        #expect(dealer.offer(sending: 1 << 20, receiving: 0))
        let offer = try #require(try plain.receiveMessage(timeoutMilliseconds: patience))
        guard case .failure = offer.message else {
            Issue.record("a region's offer decoded as a message: \(offer.message)")
            return
        }
        try plain.send(SampleMessages.welcome, to: try #require(offer.peer))
        #expect(try dealer.receiveMessage(timeoutMilliseconds: patience)?.message.get() == SampleMessages.welcome)
        #expect(!dealer.usesSharedMemory)
        try LargeExchange.run(router: plain, dealer: dealer, peer: try #require(offer.peer))
        #expect(dealer.sharedMemoryCounters == SharedMemoryCounters())
    }

    @Test func anOfferForAnotherProcessOrAnyOtherFileIsRefused() throws {
        let (endpoint, directory) = try IPCFixture.endpoint()
        defer { try? FileManager.default.removeItem(at: directory) }
        let router = SharedMemoryRouter(
            over: try ZeroMQTransport.bind(endpoint), parameterCount: nil, maxFrameBytes: -1)
        defer { router.close() }
        // A raw peer that names a region it does not own: the parent's pid, or a file that is not one.
        let region = try SharedRegion.create(RingSizes(toCoordinator: 4096, toWorker: 4096))
        let forger = try ZeroMQTransport.connect(endpoint)
        defer { forger.close() }
        /// The router takes an offer in while receiving what follows it.
        func passOffer() throws -> PeerID {
            try forger.send(SampleMessages.hello)
            let hello = try #require(try router.receiveMessage(timeoutMilliseconds: patience))
            #expect(try hello.message.get() == SampleMessages.hello)
            return try #require(hello.peer)
        }
        var peer: PeerID?
        for offer in [
            RegionHandshake(offer: getppid(), fd: region.fileDescriptor, sizes: region.sizes),
            RegionHandshake(offer: getpid(), fd: 0, sizes: region.sizes),
        ] {
            try forger.send([offer.bytes])
            peer = try passOffer()
            let answer = try #require(try forger.receive(timeoutMilliseconds: patience))
            #expect(answer.frames == [RegionHandshake(accepted: false).bytes])
        }
        #expect(router.route(to: try #require(peer)) == nil)
        // The same offer made honestly is accepted.
        try forger.send([RegionHandshake(offer: getpid(), fd: region.fileDescriptor, sizes: region.sizes).bytes])
        _ = try passOffer()
        #expect(try forger.receive(timeoutMilliseconds: patience)?.frames == [RegionHandshake(accepted: true).bytes])
        #expect(router.route(to: try #require(peer)) != nil)
    }
}

/// The test regions are the same size both ways.
extension SharedRegion {
    fileprivate var capacity: Int { sizes.toCoordinator }
}
