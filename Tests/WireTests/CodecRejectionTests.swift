import Core
import Testing

@testable import Wire

/// Every check of `MessageCodec.decode`, each with the specific error it must raise.
@Suite struct CodecRejectionTests {
    private let heartbeat = MessageCodec.encode(SampleMessages.heartbeat)[0]
    private let shard = MessageCodec.encode(SampleMessages.shard)[0]

    // MARK: Frame header

    @Test func noFramesIsEmptyMessage() {
        #expect(TestFrames.decodeError([]) == .emptyMessage)
    }

    @Test func flippedPayloadBitIsBadChecksum() {
        var frame = shard
        frame[WireProtocol.headerSize + 20] ^= 0x10
        let expected = TestFrames.header(of: shard).checksum ?? 0
        let actual = CRC32C.referenceChecksum(TestFrames.payload(of: frame))
        #expect(expected != actual)
        #expect(TestFrames.decodeError([frame]) == .badChecksum(expected: expected, got: actual))
    }

    @Test func wrongMagicIsBadMagic() {
        let frame = TestFrames.edit(heartbeat) { $0.magic = 0x5443_5344 }
        #expect(TestFrames.decodeError([frame]) == .badMagic(0x5443_5344))
    }

    @Test func otherVersionIsVersionMismatch() {
        let other = WireProtocol.protocolVersion + 1
        let frame = TestFrames.edit(heartbeat) { $0.version = other }
        #expect(TestFrames.decodeError([frame]) == .versionMismatch(expected: WireProtocol.protocolVersion, got: other))
    }

    @Test(arguments: [UInt8(0), 22, 255])
    func unknownKindIsRejected(_ kind: UInt8) {
        let frame = TestFrames.edit(heartbeat) { $0.kind = kind }
        #expect(TestFrames.decodeError([frame]) == .unknownKind(kind))
    }

    @Test func nonzeroFlagsAreRejected() {
        let frame = TestFrames.edit(heartbeat) { $0.flags = 1 }
        #expect(TestFrames.decodeError([frame]) == .unsupportedFlags(1))
    }

    /// The flag `inSharedMemory` (1) stands in for the checksum only on a frame the receiver took
    /// out of shared memory itself: through a socket it is refused, whatever the checksum says.
    @Test func theSharedMemoryFlagHoldsOnlyForFramesTakenFromSharedMemory() {
        let unchecked = TestFrames.edit(shard) {
            $0.flags = 1
            $0.checksum = 0
        }
        #expect(TestFrames.decodeError([unchecked]) == .unsupportedFlags(1))
        #expect(TestFrames.decodeError([unchecked], fromSharedMemory: [0]) == nil)
        #expect(
            (try? MessageCodec.decode([unchecked], fromSharedMemory: [0])) == SampleMessages.shard,
            "the same message as checksummed")
        // Its payload is not checksummed: a changed value is read as it is (the fields still are checked).
        var changed = unchecked
        changed[changed.count - 1] ^= 0x10
        let read = try? MessageCodec.decode([changed], fromSharedMemory: [0])
        #expect(read != nil && read != SampleMessages.shard)
        // A checksum beside the flag, or any other flag, is not a frame of shared memory.
        let both = TestFrames.edit(shard) { $0.flags = 1 }
        #expect(TestFrames.decodeError([both], fromSharedMemory: [0]) != nil)
        for flags: UInt8 in [2, 3, 0x80] {
            let other = TestFrames.edit(unchecked) { $0.flags = flags }
            #expect(TestFrames.decodeError([other], fromSharedMemory: [0]) == .unsupportedFlags(flags))
        }
        // A frame of shared memory may still carry a checksum, which is then checked.
        var damaged = shard
        damaged[damaged.count - 1] ^= 0x10
        #expect(TestFrames.decodeError([shard], fromSharedMemory: [0]) == nil)
        guard case .badChecksum = TestFrames.decodeError([damaged], fromSharedMemory: [0]) else {
            Issue.record("a checksummed frame from shared memory was not checked")
            return
        }
    }

    @Test func truncatedHeader() {
        #expect(TestFrames.decodeError([Array(heartbeat[..<10])]) == .truncated(expected: 28, got: 10))
        #expect(TestFrames.decodeError([[]]) == .truncated(expected: 28, got: 0))
    }

    @Test func truncatedPayload() {
        let frame = Array(shard.dropLast(5))
        let length = shard.count - WireProtocol.headerSize
        #expect(TestFrames.decodeError([frame]) == .truncated(expected: length, got: length - 5))
    }

    @Test func bytesAfterTheStatedPayload() {
        #expect(TestFrames.decodeError([heartbeat + [1, 2, 3]]) == .trailingBytes(3))
    }

    @Test func bytesAfterThePayloadsLastField() {
        let payload = TestFrames.payload(of: heartbeat) + [0, 0]
        let frame = TestFrames.frame(.init(kind: MessageKind.heartbeat.rawValue, step: UInt64.max), payload: payload)
        #expect(TestFrames.decodeError([frame]) == .trailingBytes(2))
    }

    @Test func statedLengthPastTheLimitIsOversized() {
        let length = UInt32(WireProtocol.maxFramePayload + 1)
        let frame = TestFrames.edit(heartbeat) { $0.payloadLength = length }
        #expect(TestFrames.decodeError([frame]) == .oversizedFrame(Int(length)))
    }

    @Test func headerStepMustMatchPayloadStep() {
        let frame = TestFrames.edit(heartbeat) { $0.step = 5 }
        #expect(isMalformed(TestFrames.decodeError([frame])))
        let hello = TestFrames.edit(MessageCodec.encode(SampleMessages.hello)[0]) { $0.step = 1 }
        #expect(isMalformed(TestFrames.decodeError([hello])))
    }

    // MARK: Parts

    @Test func missingPartIsBadPartNumbering() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        #expect(TestFrames.decodeError([frames[0], frames[2]]) == .badPartNumbering)
        #expect(TestFrames.decodeError(Array(frames.dropLast())) == .badPartNumbering)
        #expect(TestFrames.decodeError(Array(frames.dropFirst())) == .badPartNumbering)
    }

    @Test func duplicatedPartIsBadPartNumbering() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        #expect(TestFrames.decodeError([frames[0], frames[1], frames[1]]) == .badPartNumbering)
        #expect(TestFrames.decodeError([frames[0], frames[1], frames[2], frames[2]]) == .badPartNumbering)
    }

    @Test func reorderedPartsAreBadPartNumbering() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        #expect(TestFrames.decodeError([frames[0], frames[2], frames[1]]) == .badPartNumbering)
    }

    @Test func partsCountMustAgree() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        let lying = TestFrames.edit(frames[2]) { $0.parts = 4 }
        #expect(TestFrames.decodeError([frames[0], frames[1], lying]) == .badPartNumbering)
        let single = TestFrames.edit(heartbeat) { $0.parts = 0 }
        #expect(TestFrames.decodeError([single]) == .badPartNumbering)
    }

    @Test func partsMustAgreeOnKind() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        let other = TestFrames.edit(frames[1]) { $0.kind = MessageKind.step.rawValue }
        #expect(TestFrames.decodeError([frames[0], other, frames[2]]) == .inconsistentParts)
    }

    @Test func partsMustAgreeOnStep() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        let other = TestFrames.edit(frames[2]) { $0.step = 9 }
        #expect(TestFrames.decodeError([frames[0], frames[1], other]) == .inconsistentParts)
    }

    @Test func onlyTheLastPartMayBeShort() {
        let frames = MessageCodec.encode(SampleMessages.largePartial)
        var short = TestFrames.payload(of: frames[0])
        short.removeLast()
        let first = TestFrames.frame(TestFrames.header(of: frames[0]).withDefaults, payload: short)
        #expect(TestFrames.decodeError([first, frames[1], frames[2]]) == .inconsistentParts)
    }

    // MARK: Payloads

    @Test func shardValuesMustMatchFeaturesTimesExamples() {
        let chunk = ShardChunk(
            shardID: 0, shardCount: 2, features: 3, shardExamples: 10, firstExample: 0,
            labels: [1, 2], values: [1, 2, 3, 4, 5]
        )
        #expect(isMalformed(TestFrames.decodeError(MessageCodec.encode(.shard(chunk)))))
    }

    @Test func shardMustLieInsideItsShard() {
        let outside = ShardChunk(
            shardID: 2, shardCount: 2, features: 1, shardExamples: 10, firstExample: 0,
            labels: [1], values: [1]
        )
        #expect(isMalformed(TestFrames.decodeError(MessageCodec.encode(.shard(outside)))))
        let overrun = ShardChunk(
            shardID: 0, shardCount: 2, features: 1, shardExamples: 10, firstExample: 9,
            labels: [1, 2], values: [1, 2]
        )
        #expect(isMalformed(TestFrames.decodeError(MessageCodec.encode(.shard(overrun)))))
    }

    @Test func partialCannotBeMoreCorrectThanItsExamples() {
        let partial = Partial(
            step: 1, shardID: 0, exampleCount: 3, correctCount: 4, lossSum: 0, gradients: .float32([]))
        #expect(isMalformed(TestFrames.decodeError(MessageCodec.encode(.partial(partial)))))
    }

    /// A PARTIAL sums at least one shard.
    @Test(arguments: [UInt32(0), 6, UInt32.max])
    func partialMustSpanAShard(shardID: UInt32) {
        let partial = Partial(
            step: 1, shardID: shardID, shardSpan: 0, exampleCount: 3, correctCount: 2, lossSum: 0,
            gradients: .float32([1]))
        #expect(
            TestFrames.decodeError(MessageCodec.encode(.partial(partial)))
                == .malformedPayload("shard span 0 from shard \(shardID)"))
    }

    /// A span's end, `shardID + shardSpan`, is at most the largest u32 (the most shards a run can
    /// have): one past it is refused, whether or not the sum wraps in 32 bits.
    @Test(
        arguments: [
            (UInt32.max, 1), (UInt32.max - 3, 4), (1, UInt32.max), (2, UInt32.max), (UInt32.max, UInt32.max),
            (0x8000_0000, 0x8000_0000),
        ] as [(UInt32, UInt32)])
    func partialSpanMustNotOverflowShardIDs(shardID: UInt32, shardSpan: UInt32) {
        let partial = Partial(
            step: 1, shardID: shardID, shardSpan: shardSpan, exampleCount: 3, correctCount: 2, lossSum: 0,
            gradients: .float32([1]))
        #expect(
            TestFrames.decodeError(MessageCodec.encode(.partial(partial)))
                == .malformedPayload("shard span \(shardSpan) from shard \(shardID)"))
    }

    /// The largest spans that fit: ending exactly at the largest u32.
    @Test(
        arguments: [(UInt32.max - 1, 1), (UInt32.max - 4, 4), (0, UInt32.max), (0x7FFF_FFFF, 0x8000_0000)]
            as [(UInt32, UInt32)])
    func partialSpanMayEndAtTheLargestShardID(shardID: UInt32, shardSpan: UInt32) throws {
        let partial = Message.partial(
            Partial(
                step: 1, shardID: shardID, shardSpan: shardSpan, exampleCount: 3, correctCount: 2, lossSum: 0,
                gradients: .float32([1])))
        #expect(try MessageCodec.decode(MessageCodec.encode(partial)) == partial)
    }

    /// The encoding bytes are the protocol's, and each reads back as the encoding it names.
    @Test func gradientEncodingCodesAreTheProtocols() {
        #expect(GradientEncoding.allCases.map(\.wireCode) == [0, 1, 2])
        #expect(GradientEncoding.allCases.allSatisfy { GradientEncoding(wireCode: $0.wireCode) == $0 })
    }

    /// An encoding byte that names no `GradientEncoding` is refused, in PARTIAL and in WELCOME;
    /// so is padding that is not zero (a second encoding of the same message).
    @Test(arguments: [UInt8(3), 4, 0x80, 255])
    func unknownGradientEncodingIsMalformed(_ byte: UInt8) {
        // The encoding byte is the payload's 48th: after 44 bytes of fields and 3 of padding.
        var partialFrame = MessageCodec.encode(SampleMessages.float16Partial)[0]
        partialFrame[WireProtocol.headerSize + 47] = byte
        #expect(TestFrames.decodeError([reseal(partialFrame)]) == .malformedPayload("unknown encoding \(byte)"))

        // The encoding byte comes just before the last field, the kernel's name (u32 length + UTF-8).
        var welcomeFrame = MessageCodec.encode(SampleMessages.welcome)[0]
        welcomeFrame[welcomeFrame.count - 1 - 4 - "SkylakeX".utf8.count] = byte
        #expect(TestFrames.decodeError([reseal(welcomeFrame)]) == .malformedPayload("unknown gradientEncoding \(byte)"))
    }

    @Test(arguments: [44, 45, 46])
    func partialPaddingMustBeZero(offset: Int) {
        var frame = MessageCodec.encode(SampleMessages.partial)[0]
        frame[WireProtocol.headerSize + offset] = 1
        #expect(TestFrames.decodeError([reseal(frame)]) == .malformedPayload("padding is not zero"))
    }

    @Test func planMustNameEachShardOnce() {
        let step = Step(
            step: 1,
            plan: [
                ShardWork(shard: 4, selection: .range(0..<1)),
                ShardWork(shard: 4, selection: .list([2])),
            ])
        #expect(isMalformed(TestFrames.decodeError(MessageCodec.encode(.step(step)))))
    }

    @Test func rangeMustNotOverflowIndices() {
        let step = Step(
            step: 1,
            plan: [
                ShardWork(shard: 0, selection: .range(Int(UInt32.max)..<Int(UInt32.max) + 2))
            ])
        #expect(isMalformed(TestFrames.decodeError(MessageCodec.encode(.step(step)))))
    }

    @Test func unknownSelectionTagIsMalformed() {
        var payload = TestFrames.Payload()
        payload.append(UInt64(1)) // step
        payload.append(UInt32(0)) // treeShards
        payload.append(UInt32(1)) // plan count
        payload.append(UInt32(0)) // shard ID
        payload.append(UInt8(2)) // tag: neither range nor list
        payload.append(UInt32(0))
        payload.append(UInt32(0))
        let frame = TestFrames.frame(.init(kind: MessageKind.step.rawValue, step: 1), payload: payload.bytes)
        #expect(TestFrames.decodeError([frame]) == .malformedPayload("unknown example selection tag 2"))
    }

    /// A count that claims 4 G floats must be refused before anything is allocated: each payload
    /// is well formed up to the count, so the count is what is refused.
    @Test func hugeCountsAreRefusedWithoutAllocating() {
        var fields = TestFrames.Payload()
        fields.append(UInt64(1)) // step
        fields.append(UInt32(0)) // shardID
        fields.append(UInt32(1)) // shardSpan
        fields.append(UInt32(0)) // segment
        fields.append(UInt32(1)) // exampleCount
        fields.append(UInt32(1)) // correctCount
        fields.append(UInt64(0)) // lossSum
        fields.append(UInt64(0)) // computeSeconds
        #expect(fields.bytes.count == 44)
        for encoding in GradientEncoding.allCases {
            var payload = fields
            payload.append(UInt16(0)) // padding
            payload.append(UInt8(0))
            payload.append(encoding.wireCode)
            payload.append(UInt32.max) // gradients count
            let partial = TestFrames.frame(.init(kind: MessageKind.partial.rawValue, step: 1), payload: payload.bytes)
            let bytes = UInt64(UInt32.max) * UInt64(encoding.byteWidth)
            #expect(
                TestFrames.decodeError([partial]) == .malformedPayload("gradients needs \(bytes) bytes, only 0 remain"),
                "\(encoding)")
        }

        var values = TestFrames.Payload()
        values.append(UInt64(1))
        values.append(UInt32.max) // values count
        let params = TestFrames.frame(.init(kind: MessageKind.params.rawValue, step: 1), payload: values.bytes)
        #expect(
            TestFrames.decodeError([params])
                == .malformedPayload("values needs \(UInt64(UInt32.max) * 4) bytes, only 0 remain"))

        var plan = TestFrames.Payload()
        plan.append(UInt64(1))
        plan.append(UInt32(0)) // treeShards
        plan.append(UInt32.max) // plan count
        let step = TestFrames.frame(.init(kind: MessageKind.step.rawValue, step: 1), payload: plan.bytes)
        #expect(
            TestFrames.decodeError([step]) == .malformedPayload("plan count \(UInt32.max) cannot fit in 0 bytes"))
    }

    @Test func stringsMustBeValidUTF8() {
        var payload = TestFrames.Payload()
        payload.append(string: [0x6F, 0x6B, 0xC3, 0x28]) // "ok" then a broken two-byte sequence
        let frame = TestFrames.frame(.init(kind: MessageKind.bye.rawValue), payload: payload.bytes)
        #expect(isMalformed(TestFrames.decodeError([frame])))
    }

    @Test func stringsMustNotExceedTheLimit() {
        var payload = TestFrames.Payload()
        payload.append(string: [UInt8](repeating: 0x61, count: WireProtocol.maxStringBytes + 1))
        let frame = TestFrames.frame(.init(kind: MessageKind.refuse.rawValue), payload: payload.bytes)
        #expect(isMalformed(TestFrames.decodeError([frame])))
    }

    /// Every prefix of every sample payload, sealed with a valid header and checksum, must be
    /// refused with a WireError (and never trap); only the whole payload decodes.
    @Test func everyTruncatedPayloadIsRefused() {
        for message in SampleMessages.small {
            let frame = MessageCodec.encode(message)[0]
            let header = TestFrames.header(of: frame)
            let payload = TestFrames.payload(of: frame)
            for length in 0..<payload.count {
                let cut = TestFrames.frame(header.withDefaults, payload: Array(payload[..<length]))
                let error = TestFrames.decodeError([cut])
                #expect(error != nil, "\(message.kind) cut to \(length) of \(payload.count) bytes decoded")
            }
        }
    }

    /// Random bytes under a valid header must be refused or decode; what matters is no trap.
    @Test func randomPayloadsNeverTrap() {
        var generator = SplitMix64(seed: 7)
        for trial in 0..<2000 {
            let kind = UInt8(1 + trial % 9)
            let length = Int(generator.next() % 64)
            let payload = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let frame = TestFrames.frame(.init(kind: kind), payload: payload)
            if let message = try? MessageCodec.decode([frame]) {
                #expect(message.kind.rawValue == kind)
            }
        }
    }

    /// A payload of exactly one full frame followed by an empty part is a second encoding of a
    /// one-frame message: refused, so every message has one encoding.
    @Test func emptyLastPartIsInconsistent() throws {
        func partial(_ count: Int) -> Message {
            .partial(
                Partial(
                    step: 1, shardID: 0, exampleCount: 1, correctCount: 1, lossSum: 0,
                    gradients: .float32(FloatArray(Array(repeating: 1, count: count)))))
        }
        let base = MessageCodec.encode(partial(0))[0].count - WireProtocol.headerSize
        try #require((WireProtocol.maxFramePayload - base) % 4 == 0)
        var full = MessageCodec.encode(partial((WireProtocol.maxFramePayload - base) / 4))
        try #require(full.count == 1)
        full[0][18] = 2 // parts = 2
        var empty = [UInt8](repeating: 0, count: WireProtocol.headerSize)
        withUnsafeBytes(of: WireProtocol.magic.littleEndian) { empty.replaceSubrange(0..<4, with: $0) }
        empty[4] = UInt8(WireProtocol.protocolVersion)
        empty[6] = MessageKind.partial.rawValue
        empty[8] = 1 // step 1
        empty[16] = 1 // part 1
        empty[18] = 2 // of 2; payload length 0, checksum 0 (the CRC-32C of nothing)
        #expect(TestFrames.decodeError([full[0], empty]) == .inconsistentParts)
    }

    /// `frame` with its checksum recomputed after an edit to its payload.
    private func reseal(_ frame: [UInt8]) -> [UInt8] {
        TestFrames.frame(TestFrames.header(of: frame).withDefaults, payload: TestFrames.payload(of: frame))
    }

    private func isMalformed(_ error: WireError?) -> Bool {
        if case .malformedPayload = error { return true }
        return false
    }
}
