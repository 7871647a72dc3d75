import Core
import Foundation
import Testing

@testable import Wire

/// A float32 PARTIAL a worker encodes in its ring is read there by the coordinator
/// (`MessageCodec.decodePartial(inPlace:owner:)`), never copied: it must accept exactly the frames
/// the codec accepts from shared memory, and read the same message from them.
@Suite struct InPlacePartialTests {
    private let patience = IPCFixture.patience

    private static let partial = Partial(
        step: 12, shardID: 2, shardSpan: 2, segment: 1, exampleCount: 64, correctCount: 20, lossSum: 81.25,
        computeSeconds: 0.5, gradients: .float32([]))

    /// The frame a worker writes into its ring for `values`.
    private static func frame(_ values: [Float], place: FramePlace = .sharedMemory) -> [UInt8] {
        let size = MessageCodec.partialFrameBytes(count: values.count)!
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            values.withUnsafeBufferPointer {
                MessageCodec.encodePartial(partial, gradients: $0, into: buffer.baseAddress!, for: place)
            }
            initialized = size
        }
    }

    private static func inPlace(_ frame: [UInt8]) -> Result<Message, WireError> {
        frame.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Message in
                .partial(try MessageCodec.decodePartial(inPlace: raw, owner: Self.self as AnyObject))
            }
        }
    }

    private static func codec(_ frame: [UInt8]) -> Result<Message, WireError> {
        Result { () throws(WireError) -> Message in try MessageCodec.decode([frame], fromSharedMemory: [0]) }
    }

    @Test func readsTheMessageTheCodecReads() throws {
        let values = SampleMessages.distinctFloats(1000, seed: 0.25)
        for place in [FramePlace.sharedMemory, .socket] {
            let frame = Self.frame(values, place: place)
            var whole = Self.partial
            whole.gradients = .float32(FloatArray(values))
            #expect(try Self.inPlace(frame).get() == .partial(whole))
            #expect(try Self.codec(frame).get() == .partial(whole))
        }
    }

    /// Every byte of the header and the fields, set to values that matter to some check: the
    /// in-place reader and the codec agree on every one, accepting the same messages.
    @Test func acceptsAndRefusesWhatTheCodecDoes() throws {
        let frame = Self.frame(SampleMessages.distinctFloats(9, seed: 1.5))
        var accepted = 0
        var refused = 0
        for offset in 0..<(WireProtocol.headerSize + 52) {
            for value: UInt8 in [0, 1, 2, 3, 7, 0x7F, 0x80, 0xFF, frame[offset] ^ 1] {
                var changed = frame
                changed[offset] = value
                let inPlace = Self.inPlace(changed)
                let codec = Self.codec(changed)
                switch (inPlace, codec) {
                case (.success(let a), .success(let b)):
                    #expect(a == b, "byte \(offset) = \(value)")
                    accepted += 1
                case (.failure, .failure): refused += 1
                default: Issue.record("byte \(offset) = \(value): in place \(inPlace), codec \(codec)")
                }
            }
        }
        #expect(accepted > 0 && refused > 0)
        // Shorter or longer than its fields say.
        #expect(throws: WireError.self) { try Self.inPlace(Array(frame.dropLast(4))).get() }
        #expect(throws: WireError.self) { try Self.inPlace(frame + [0, 0, 0, 0]).get() }
        #expect(throws: WireError.self) { try Self.inPlace(Array(frame.prefix(40))).get() }
    }

    /// Through the layer: each segment is read where it lies in the ring, which takes it back at
    /// the router's next receive — a ring of two and a half frames carries ten of them, none
    /// turned away to the socket.
    @Test func theRouterReadsSegmentsInTheRingAndTakesEachBackAtTheNextReceive() throws {
        let count = 100_000
        let frameBytes = try #require(MessageCodec.partialFrameBytes(count: count))
        let (router, dealer, peer, directory) = try IPCFixture.pair(capacity: frameBytes * 5 / 2, receiving: 0)
        defer {
            router.close()
            dealer.close()
            try? FileManager.default.removeItem(at: directory)
        }
        #expect(dealer.usesSharedMemory)
        for round in 0..<10 {
            let values = SampleMessages.distinctFloats(count, seed: Float(round) + 0.5)
            try values.withUnsafeBufferPointer { gradients in
                try dealer.send(frameBytes: frameBytes) { frame, place in
                    MessageCodec.encodePartial(Self.partial, gradients: gradients, into: frame, for: place)
                }
            }
            let envelope = try #require(try router.receive(timeoutMilliseconds: patience))
            #expect(
                envelope.peer == peer && envelope.inPlaceFrameBytes == frameBytes && envelope.byteCount == frameBytes)
            guard case .partial(let partial) = try router.decode(envelope).get(),
                case .float32(let g) = partial.gradients
            else {
                Issue.record("round \(round): not a float32 PARTIAL")
                return
            }
            #expect(g.receivedFloats != nil && g.array == values, "round \(round)")
        }
        #expect(dealer.sharedMemoryCounters.framesSent == 10 && dealer.sharedMemoryCounters.framesSentWithoutRoom == 0)
        #expect(router.sharedMemoryCounters.framesReceived == 10)
        // A checksummed frame in the ring (copied in by `send`) is still copied out and checked.
        let copied = Self.frame(SampleMessages.distinctFloats(count, seed: 20.5), place: .socket)
        try dealer.send([copied])
        let envelope = try #require(try router.receive(timeoutMilliseconds: patience))
        #expect(envelope.inPlaceFrameBytes == nil && envelope.frames == [copied])
        #expect(try router.decode(envelope).get() == (try MessageCodec.decode([copied])))
    }
}
