import CSharedMemory
import Foundation
import Testing
@testable import Wire

/// The parameters a coordinator shares with its local workers (`ParameterBoard`): written in place,
/// read in place, refused when they are anything but what the coordinator wrote.
@Suite struct ParameterBoardTests {
    private let patience = IPCFixture.patience

    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(Int64(bitPattern: random.next() % 2001) - 1000) / 97 }
    }

    /// The coordinator's board and a worker's read-only mapping of it, in this one process.
    private func boardPair(count: Int) throws -> (coordinator: ParameterBoard, worker: ParameterBoard) {
        let coordinator = try ParameterBoard.create(frameBytes: MessageCodec.paramsFrameBytes(count: count))
        let worker = try ParameterBoard.open(pid: getpid(), fd: coordinator.fileDescriptor, slotBytes: coordinator.slotBytes)
        return (coordinator, worker)
    }

    @Test func theFrameWrittenInPlaceIsTheCodecsAndIsReadWhereItLies() throws {
        let (coordinator, worker) = try boardPair(count: 1000)
        for step in UInt64(1)...3 {
            let w = values(1000, seed: step)
            let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: step, values: $0) })
            // Byte for byte what the codec makes for the socket.
            let offset = ParameterBoard.headerBytes + Int(reference.slot) * coordinator.slotBytes
            let frame = UnsafeRawBufferPointer(start: coordinator.base + offset, count: Int(reference.length))
            #expect([UInt8](frame) == MessageCodec.encode(.params(Params(step: step, values: FloatArray(w))))[0])
            let params = try worker.params(reference)
            #expect(params.step == step && params.values.array == w)
            // Viewed in the worker's mapping, not copied.
            let floats = try #require(params.values.receivedFloats)
            #expect(UnsafeRawPointer(floats) == UnsafeRawPointer(worker.base + offset + 40))
        }
    }

    /// W, b kept in a slot are published where they lie, whichever slot was published last: the
    /// frame around them is the codec's, the reference names that slot, and nothing is copied. A
    /// step's frame stays intact while the next is made in the other slot.
    @Test func valuesKeptInASlotArePublishedWithoutACopy() throws {
        let count = 1000
        let (coordinator, worker) = try boardPair(count: count)
        var previous: (BoardReference, [Float])?
        for (step, slot) in zip(UInt64(1)..., [0, 0, 1, 1, 0, 1]) {
            let place = coordinator.values(inSlot: slot)
            let w = values(count, seed: 20 + step)
            place.update(from: w, count: count)
            let reference = try #require(coordinator.publish(step: step, values: UnsafeBufferPointer(start: place, count: count)))
            #expect(reference.slot == UInt32(slot))
            let frame = UnsafeRawBufferPointer(
                start: coordinator.base + ParameterBoard.headerBytes + slot * coordinator.slotBytes, count: Int(reference.length))
            #expect([UInt8](frame) == MessageCodec.encode(.params(Params(step: step, values: FloatArray(w))))[0])
            #expect(UnsafeRawPointer(place) == frame.baseAddress! + MessageCodec.paramsValuesOffset, "not moved")
            let params = try worker.params(reference)
            #expect(params.step == step && params.values.array == w)
            let floats = try #require(params.values.receivedFloats)
            #expect(UnsafeRawPointer(floats) == UnsafeRawPointer(worker.base + ParameterBoard.headerBytes + slot * worker.slotBytes + 40))
            if let (before, values) = previous, before.slot != reference.slot {
                #expect(try worker.params(before).values.array == values, "the previous step's frame is intact")
            }
            previous = (reference, w)
        }
    }

    /// Values that lie elsewhere are copied into the slot not published last.
    @Test func valuesFromElsewhereAreCopiedIntoTheSlotsInTurn() throws {
        let (coordinator, worker) = try boardPair(count: 100)
        var references: [(BoardReference, [Float])] = []
        for step in UInt64(1)...3 {
            let w = values(100, seed: 40 + step)
            let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: step, values: $0) })
            #expect(reference.slot == UInt32((step - 1) % 2))
            references.append((reference, w))
        }
        for (reference, w) in references.suffix(2) { #expect(try worker.params(reference).values.array == w) }
    }

    @Test func aWorkerCanNeitherWriteNorMapTheBoardWritable() throws {
        let (coordinator, _) = try boardPair(count: 100)
        #expect(descent_is_sealed_against_writers(coordinator.fileDescriptor) != 0)
        let path = "/proc/self/fd/\(coordinator.fileDescriptor)"
        let descriptor = open(path, O_RDWR)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var byte: UInt8 = 1
        #expect(pwrite(descriptor, &byte, 1, off_t(ParameterBoard.headerBytes)) == -1, "a write through another descriptor")
        let mapping = mmap(nil, coordinator.byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        #expect(mapping == MAP_FAILED, "a writable mapping through another descriptor")
        if let mapping, mapping != MAP_FAILED { munmap(mapping, coordinator.byteCount) }
    }

    @Test func referencesAndFramesThatAreNotTheStepsAreRefused() throws {
        let (coordinator, worker) = try boardPair(count: 100)
        let w = values(100, seed: 9)
        let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: 7, values: $0) })
        #expect(reference.slot == 0)
        #expect(throws: WireError.self, "a slot past the board") { try worker.params(BoardReference(slot: 2, length: reference.length, step: 7)) }
        #expect(throws: WireError.self, "a slot never published") { try worker.params(BoardReference(slot: 1, length: reference.length, step: 7)) }
        #expect(throws: WireError.self) { try worker.params(BoardReference(slot: 0, length: UInt32(coordinator.slotBytes + 1), step: 7)) }
        #expect(throws: WireError.self) { try worker.params(BoardReference(slot: 0, length: reference.length - 4, step: 7)) }
        #expect(throws: WireError.self, "another step than announced") { try worker.params(BoardReference(slot: 0, length: reference.length, step: 8)) }
        // A value changed after the checksum was taken.
        let slot = coordinator.base + ParameterBoard.headerBytes
        slot.storeBytes(of: Float(1).bitPattern, toByteOffset: 60, as: UInt32.self)
        #expect(throws: WireError.self) { try worker.params(reference) }
        // A frame of another kind where PARAMS should be.
        let step = MessageCodec.encode(.heartbeat(Heartbeat(step: 7)))[0]
        step.withUnsafeBytes { slot.copyMemory(from: $0.baseAddress!, byteCount: step.count) }
        #expect(throws: WireError.self) { try worker.params(BoardReference(slot: 0, length: UInt32(step.count), step: 7)) }
    }

    @Test func onlyASealedBoardOfTheOfferedSizeOpens() throws {
        let board = try ParameterBoard.create(frameBytes: 4096)
        #expect(throws: WireError.self) { try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes * 2) }
        #expect(throws: WireError.self) { try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: 100) }
        #expect(throws: WireError.self) { try ParameterBoard.open(pid: -1, fd: board.fileDescriptor, slotBytes: board.slotBytes) }
        // A header that counts other than two slots.
        _ = try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes)
        board.base.storeBytes(of: UInt64(1), toByteOffset: 16, as: UInt64.self)
        #expect(throws: WireError.self) { try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes) }
        // A frame region is no board, and neither is an unsealed file of the right name and size.
        let region = try SharedRegion.create(RingSizes(toCoordinator: 4096, toWorker: 4096))
        #expect(throws: WireError.self) { try ParameterBoard.open(pid: getpid(), fd: region.fileDescriptor, slotBytes: board.slotBytes) }
        let unsealed = descent_memfd_create(ParameterBoard.fileName)
        try #require(unsealed >= 0)
        defer { close(unsealed) }
        try #require(ftruncate(unsealed, off_t(board.byteCount)) == 0)
        #expect(throws: WireError.self) { try ParameterBoard.open(pid: getpid(), fd: unsealed, slotBytes: board.slotBytes) }
    }

    // MARK: Through the transport

    @Test func aLocalDealerComputesFromTheRoutersParametersWhereTheyLie() throws {
        let count = 300_000
        let (router, dealer, peer, directory) = try IPCFixture.pair(
            capacity: 1 << 20, receiving: 0, sharedParameterBytes: MessageCodec.paramsFrameBytes(count: count))
        defer { router.close(); dealer.close(); try? FileManager.default.removeItem(at: directory) }
        #expect(router.readsSharedParameters(peer))
        for step in UInt64(1)...3 {
            let w = values(count, seed: step)
            let frames = try #require(w.withUnsafeBufferPointer { router.publishParameters(step: step, values: $0) })
            #expect(frames.map(\.count) == [BoardReference.byteCount], "a reference, not a megabyte")
            try router.send(frames, to: peer)
            let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
            let params = try #require(dealer.sharedParameters(in: envelope)).get()
            #expect(params.step == step && params.values.array == w)
        }
        // W, b kept where the router offers to keep them are made into PARAMS in place, each
        // slot in turn.
        let (first, second, _) = try #require(router.sharedParameterStorage(count: count))
        #expect(router.sharedParameterStorage(count: count + 1_000_000) == nil, "more values than a slot holds")
        for (step, place) in [(UInt64(4), first), (5, second), (6, first)] {
            let w = values(count, seed: step)
            place.update(from: w, count: count)
            let frames = try #require(router.publishParameters(step: step, values: UnsafeBufferPointer(start: place, count: count)))
            #expect(BoardReference(frames[0])?.slot == (place == first ? 0 : 1))
            try router.send(frames, to: peer)
            let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
            let params = try #require(dealer.sharedParameters(in: envelope)).get()
            #expect(params.step == step && params.values.array == w)
        }
        // Any other message is the codec's.
        try router.send(SampleMessages.heartbeat, to: peer)
        #expect(dealer.sharedParameters(in: try #require(try dealer.receive(timeoutMilliseconds: patience))) == nil)
        // Once the dealer is released (lost), it gets PARAMS through the socket again, and with no
        // peer reading them the parameters are not written at all.
        router.releaseSharedMemory(with: peer)
        #expect(!router.readsSharedParameters(peer))
        #expect(values(count, seed: 4).withUnsafeBufferPointer { router.publishParameters(step: 4, values: $0) } == nil)
    }

    @Test func aReferenceWithoutABoardIsRefusedNotFollowed() throws {
        // No board on the router: the dealer maps none, and a forged reference fails like any
        // undecodable message.
        let (router, dealer, peer, directory) = try IPCFixture.pair(capacity: 1 << 20, receiving: 0)
        defer { router.close(); dealer.close(); try? FileManager.default.removeItem(at: directory) }
        #expect(!router.readsSharedParameters(peer))
        try router.send([BoardReference(slot: 0, length: 64, step: 1).bytes], to: peer)
        let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
        let result = try #require(dealer.sharedParameters(in: envelope))
        #expect(throws: WireError.self) { try result.get() }
        #expect(router.publishParameters(step: 1, values: UnsafeBufferPointer(start: nil, count: 0)) == nil)
    }

    @Test func sharedParametersAreOfferedOnlyWithSharedMemory() throws {
        // Over TCP, and with shared memory turned off, there is no board to share.
        let tcp = try ZeroMQTransport.bind("tcp://127.0.0.1:*")
        defer { tcp.close() }
        #expect(!tcp.shareParameters(frameBytes: 4096))
        var off = ZeroMQOptions()
        off.sharedMemory = false
        let (endpoint, directory) = try IPCFixture.endpoint()
        defer { try? FileManager.default.removeItem(at: directory) }
        let quiet = try ZeroMQTransport.bind(endpoint, options: off)
        defer { quiet.close() }
        #expect(!quiet.shareParameters(frameBytes: 4096))
    }
}
