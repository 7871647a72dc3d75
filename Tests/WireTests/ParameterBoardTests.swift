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

    /// The frame on the board is the codec's PARAMS, flagged `inSharedMemory` in place of its
    /// checksum; a worker finds it by its step and reads it where it lies.
    @Test func theFrameWrittenInPlaceIsTheCodecsAndIsReadWhereItLies() throws {
        let (coordinator, worker) = try boardPair(count: 1000)
        for step in UInt64(1)...3 {
            let w = values(1000, seed: step)
            let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: step, values: $0) })
            let offset = ParameterBoard.headerBytes + Int(reference.slot) * coordinator.slotBytes
            let frame = [UInt8](UnsafeRawBufferPointer(start: coordinator.base + offset, count: Int(reference.length)))
            let codec = MessageCodec.encode(.params(Params(step: step, values: FloatArray(w))))[0]
            #expect(frame[7] == FrameHeader.inSharedMemory && frame[24..<28].allSatisfy { $0 == 0 })
            // Byte for byte what the codec makes for the socket, but for the flag and the checksum.
            #expect(Array(frame[..<7]) == Array(codec[..<7]) && Array(frame[8..<24]) == Array(codec[8..<24]))
            #expect(Array(frame[28...]) == Array(codec[28...]))
            let params = try worker.params(step: step)
            #expect(params.step == step && params.values.array == w)
            // Viewed in the worker's mapping, not copied.
            let floats = try #require(params.values.receivedFloats)
            #expect(UnsafeRawPointer(floats) == UnsafeRawPointer(worker.base + offset + 40))
        }
    }

    /// Each step's values are copied into the slot not published last: the last two steps are
    /// there to be read, an older one no longer.
    @Test func stepsAreCopiedIntoTheSlotsInTurn() throws {
        let (coordinator, worker) = try boardPair(count: 100)
        var published: [(UInt64, [Float])] = []
        for step in UInt64(1)...3 {
            let w = values(100, seed: 40 + step)
            let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: step, values: $0) })
            #expect(reference.slot == UInt32((step - 1) % 2))
            published.append((step, w))
        }
        for (step, w) in published.suffix(2) { #expect(try worker.params(step: step).values.array == w) }
        #expect(throws: WireError.self, "step 1, overwritten by step 3") { try worker.params(step: 1) }
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

    /// A step the board does not hold, or a frame there that is not that step's PARAMS, is
    /// refused as `WireError.sharedMemory`.
    @Test func framesThatAreNotTheStepsAreRefused() throws {
        let (coordinator, worker) = try boardPair(count: 100)
        let w = values(100, seed: 9)
        let reference = try #require(w.withUnsafeBufferPointer { coordinator.publish(step: 7, values: $0) })
        #expect(reference.slot == 0)
        #expect(try worker.params(step: 7).values.array == w)
        func refused(_ step: UInt64, _ why: Comment) {
            do {
                _ = try worker.params(step: step)
                Issue.record(why)
            } catch {
                if case .sharedMemory = error { return }
                Issue.record("\(why): \(error)")
            }
        }
        refused(8, "a step never published")
        refused(0, "the empty slot's step")
        let slot = coordinator.base + ParameterBoard.headerBytes
        // A payload length past the slot.
        slot.storeBytes(of: UInt32(coordinator.slotBytes).littleEndian, toByteOffset: 20, as: UInt32.self)
        refused(7, "a frame longer than its slot")
        slot.storeBytes(of: UInt32(reference.length - 28).littleEndian, toByteOffset: 20, as: UInt32.self)
        #expect(try worker.params(step: 7).values.array == w)
        // The payload's step is not the header's.
        slot.storeBytes(of: UInt64(6).littleEndian, toByteOffset: 28, as: UInt64.self)
        refused(7, "a payload of another step")
        // A frame of another kind where PARAMS should be.
        let heartbeat = MessageCodec.encode(.heartbeat(Heartbeat(step: 7)))[0]
        heartbeat.withUnsafeBytes { slot.copyMemory(from: $0.baseAddress!, byteCount: heartbeat.count) }
        refused(7, "a HEARTBEAT")
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

    /// Through the layer: the router sends a worker that mapped the board no PARAMS at all, and
    /// the dealer takes each step's parameters from the board where they lie.
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
                #expect(try router.send(params, to: peer) == 0, "nothing sent, not a megabyte")
                #expect(try router.send(params, to: peer) == 0)
            }
            let shared = try #require(dealer.sharedParameters(step: step)).get()
            #expect(shared.step == step && shared.values.array == w)
            #expect(shared.values.receivedFloats != nil, "viewed where it lies")
        }
        guard case .failure(.sharedMemory) = dealer.sharedParameters(step: 1) else {
            Issue.record("step 1 was still read after steps 2 and 3 took the slots")
            return
        }
        // No message went through the socket for them: the first to arrive is the next one sent.
        try router.send(SampleMessages.heartbeat, to: peer)
        let heartbeat = try #require(try dealer.receive(timeoutMilliseconds: patience))
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

    @Test func withoutABoardParametersGoThroughTheSocket() throws {
        // No board on the router: the dealer maps none, PARAMS goes through the socket, and the
        // dealer has no shared parameters to offer.
        let (router, dealer, peer, directory) = try IPCFixture.pair(capacity: 1 << 20, receiving: 0)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(router.route(to: peer) == "large frames go through shared memory")
        try [Float(1), 2, 3].withUnsafeBufferPointer { w throws in
            #expect(try router.send(OutgoingParams(step: 1, values: w), to: peer) > 28)
        }
        let params = try #require(try dealer.receive(timeoutMilliseconds: patience))
        #expect(try dealer.decode(params).get() == .params(Params(step: 1, values: [1, 2, 3])))
        #expect(dealer.sharedParameters(step: 1) == nil)
    }
}
