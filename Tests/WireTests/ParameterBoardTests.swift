import CSharedMemory
import Core
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
        let worker = try ParameterBoard.open(
            pid: getpid(), fd: coordinator.fileDescriptor, slotBytes: coordinator.slotBytes)
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

    /// Each step's values are copied into the slot not published last.
    @Test func stepsAreCopiedIntoTheSlotsInTurn() throws {
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
        #expect(
            pwrite(descriptor, &byte, 1, off_t(ParameterBoard.headerBytes)) == -1, "a write through another descriptor")
        let mapping = mmap(nil, coordinator.byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        #expect(mapping == MAP_FAILED, "a writable mapping through another descriptor")
        if let mapping, mapping != MAP_FAILED { munmap(mapping, coordinator.byteCount) }
    }

    @Test func referencesAndFramesThatAreNotTheStepsAreRefused() throws {
        let (coordinator, worker) = try boardPair(count: 100)
        let w = values(100, seed: 9)
        let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: 7, values: $0) })
        #expect(reference.slot == 0)
        #expect(throws: WireError.self, "a slot past the board") {
            try worker.params(BoardReference(slot: 2, length: reference.length, step: 7))
        }
        #expect(throws: WireError.self, "a slot never published") {
            try worker.params(BoardReference(slot: 1, length: reference.length, step: 7))
        }
        #expect(throws: WireError.self) {
            try worker.params(BoardReference(slot: 0, length: UInt32(coordinator.slotBytes + 1), step: 7))
        }
        #expect(throws: WireError.self) {
            try worker.params(BoardReference(slot: 0, length: reference.length - 4, step: 7))
        }
        #expect(throws: WireError.self, "another step than announced") {
            try worker.params(BoardReference(slot: 0, length: reference.length, step: 8))
        }
        // A value changed after the checksum was taken.
        let slot = coordinator.base + ParameterBoard.headerBytes
        slot.storeBytes(of: Float(1).bitPattern, toByteOffset: 60, as: UInt32.self)
        #expect(throws: WireError.self) { try worker.params(reference) }
        // A frame of another kind where PARAMS should be.
        let step = MessageCodec.encode(.heartbeat(Heartbeat(step: 7)))[0]
        step.withUnsafeBytes { slot.copyMemory(from: $0.baseAddress!, byteCount: step.count) }
        #expect(throws: WireError.self) {
            try worker.params(BoardReference(slot: 0, length: UInt32(step.count), step: 7))
        }
    }

    @Test func onlyASealedBoardOfTheOfferedSizeOpens() throws {
        let board = try ParameterBoard.create(frameBytes: 4096)
        #expect(throws: WireError.self) {
            try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes * 2)
        }
        #expect(throws: WireError.self) {
            try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: 100)
        }
        #expect(throws: WireError.self) {
            try ParameterBoard.open(pid: -1, fd: board.fileDescriptor, slotBytes: board.slotBytes)
        }
        // A header that counts other than two slots.
        _ = try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes)
        board.base.storeBytes(of: UInt64(1), toByteOffset: 16, as: UInt64.self)
        #expect(throws: WireError.self) {
            try ParameterBoard.open(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes)
        }
        // A frame region is no board, and neither is an unsealed file of the right name and size.
        let region = try SharedRegion.create(RingSizes(toCoordinator: 4096, toWorker: 4096))
        #expect(throws: WireError.self) {
            try ParameterBoard.open(pid: getpid(), fd: region.fileDescriptor, slotBytes: board.slotBytes)
        }
        let unsealed = descent_memfd_create(ParameterBoard.fileName)
        try #require(unsealed >= 0)
        defer { close(unsealed) }
        try #require(ftruncate(unsealed, off_t(board.byteCount)) == 0)
        #expect(throws: WireError.self) {
            try ParameterBoard.open(pid: getpid(), fd: unsealed, slotBytes: board.slotBytes)
        }
    }

    // MARK: Through the layer

    @Test func aLocalDealerComputesFromTheRoutersParametersWhereTheyLie() throws {
        let count = 300_000
        let (router, dealer, peer, directory) = try IPCFixture.pair(
            capacity: 1 << 20, receiving: 0, sharedParameterCount: count)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(router.route(to: peer)?.hasSuffix("it computes from the shared parameters") == true)
        for step in UInt64(1)...3 {
            let w = values(count, seed: step)
            try w.withUnsafeBufferPointer { w throws in
                let params = OutgoingParams(step: step, values: w)
                #expect(try router.send(params, to: peer) == BoardReference.byteCount, "a reference, not a megabyte")
                // Sent again, the step is not written again: the same slot.
                #expect(try router.send(params, to: peer) == BoardReference.byteCount)
            }
            for _ in 0..<2 {
                let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
                #expect(BoardReference(envelope.frames[0])?.slot == UInt32((step - 1) % 2), "the slots in turn")
                #expect(SharedMemoryTransport.parametersStep(announcedBy: envelope) == step)
                guard case .params(let params) = try dealer.decode(envelope).get() else {
                    Issue.record("step \(step): not PARAMS")
                    return
                }
                #expect(params.step == step && params.values.array == w)
                #expect(params.values.receivedFloats != nil, "viewed where it lies")
            }
        }
        // Any other message is the codec's.
        try router.send(SampleMessages.heartbeat, to: peer)
        let heartbeat = try #require(try dealer.receive(timeoutMilliseconds: patience))
        #expect(SharedMemoryTransport.parametersStep(announcedBy: heartbeat) == nil)
        #expect(try dealer.decode(heartbeat).get() == SampleMessages.heartbeat)
        // Once the router forgets the dealer (lost), it sends PARAMS through the socket again.
        router.forget(peer)
        #expect(router.route(to: peer) == nil)
        let w = values(count, seed: 4)
        try w.withUnsafeBufferPointer { w throws in
            #expect(try router.send(OutgoingParams(step: 4, values: w), to: peer) > 4 * count)
        }
        let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
        #expect(try dealer.decode(envelope).get() == .params(Params(step: 4, values: FloatArray(w))))
    }

    @Test func aReferenceWithoutABoardIsRefusedNotFollowed() throws {
        // No board on the router: the dealer maps none, PARAMS goes through the socket, and a
        // forged reference fails like any undecodable message.
        let (router, dealer, peer, directory) = try IPCFixture.pair(capacity: 1 << 20, receiving: 0)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(router.route(to: peer) == "large frames go through shared memory")
        try [Float(1), 2, 3].withUnsafeBufferPointer { w throws in
            #expect(try router.send(OutgoingParams(step: 1, values: w), to: peer) > BoardReference.byteCount)
        }
        let params = try #require(try dealer.receive(timeoutMilliseconds: patience))
        #expect(try dealer.decode(params).get() == .params(Params(step: 1, values: [1, 2, 3])))
        try router.send([BoardReference(slot: 0, length: 64, step: 1).bytes], to: peer)
        let envelope = try #require(try dealer.receive(timeoutMilliseconds: patience))
        guard case .failure(.sharedMemory) = dealer.decode(envelope) else {
            Issue.record("a reference without a board was not refused as shared memory")
            return
        }
    }
}
