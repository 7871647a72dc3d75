import Core
import Testing

@testable import Wire

@Suite struct CodecRoundTripTests {
    @Test(arguments: SampleMessages.small)
    func smallMessageRoundTripsInOneFrame(_ message: Message) throws {
        let frames = MessageCodec.encode(message)
        #expect(frames.count == 1)
        let header = TestFrames.header(of: frames[0])
        #expect(header.kind == message.kind.rawValue)
        #expect(header.part == 0 && header.parts == 1)
        #expect(Int(header.payloadLength ?? 0) == frames[0].count - WireProtocol.headerSize)
        #expect(try MessageCodec.decode(frames) == message)
    }

    @Test func everyKindIsSampled() {
        let kinds = Set(SampleMessages.small.map(\.kind.rawValue))
        #expect(kinds == Set(MessageKind.allCases.map(\.rawValue)))
    }

    @Test func headerCarriesTheMessageStep() {
        let steps: [(Message, UInt64)] = [
            (SampleMessages.step, 42), (SampleMessages.partial, 42),
            (SampleMessages.heartbeat, UInt64.max), (SampleMessages.hello, 0), (SampleMessages.shard, 0),
        ]
        for (message, step) in steps {
            #expect(TestFrames.header(of: MessageCodec.encode(message)[0]).step == step, "\(message.kind)")
        }
    }

    /// The exact bytes of a HEARTBEAT, as docs/PROTOCOL.md lays them out.
    @Test func heartbeatBytesMatchTheSpec() {
        let frames = MessageCodec.encode(.heartbeat(Heartbeat(step: 0x0102_0304_0506_0708)))
        let payload: [UInt8] = [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
        let crc = CRC32C.referenceChecksum(payload)
        let expected: [UInt8] =
            [
                0x54, 0x43, 0x53, 0x44, // magic "DSCT" little-endian
                0x0A, 0x00, // version 10
                0x08, // kind HEARTBEAT
                0x00, // flags
                0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // step
                0x00, 0x00, 0x01, 0x00, // part 0 of 1
                0x08, 0x00, 0x00, 0x00, // payload length
                UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24),
            ] + payload
        #expect(frames == [expected])
    }

    /// Every encoding round trips, in WELCOME and in PARTIAL, with its bit patterns unchanged.
    @Test(arguments: GradientEncoding.allCases)
    func everyGradientEncodingRoundTrips(encoding: GradientEncoding) throws {
        let welcome = Message.welcome(
            Welcome(
                rank: 0, heartbeatMilliseconds: 500, threads: 2, layers: [3, 2], activation: "tanh", seed: 9,
                gradientEncoding: encoding))
        #expect(try MessageCodec.decode(MessageCodec.encode(welcome)) == welcome)

        // NaNs with payloads, both zeros, both infinities, subnormals: in 16 bits as in 32.
        let bits: [UInt16] = [0x7E01, 0xFC00, 0x7C00, 0x8000, 0x0000, 0x0001, 0x7BFF, 0xFF81, 0x3C00, 0x7F80]
        let gradients: PartialGradients =
            encoding == .float32
            ? .float32(FloatArray(bits.map { Float(bitPattern: UInt32($0) << 16 | UInt32($0)) }))
            : PartialGradients(encoding, bits: HalfArray(bits))
        let partial = Partial(step: 3, shardID: 1, exampleCount: 2, correctCount: 1, lossSum: 0.5, gradients: gradients)
        guard case .partial(let decoded) = try MessageCodec.decode(MessageCodec.encode(.partial(partial))) else {
            Issue.record("decoded to another kind")
            return
        }
        #expect(decoded.encoding == encoding)
        #expect(decoded.gradients.count == bits.count)
        let sent = partial.gradients.withUnsafeBytes { [UInt8]($0) }
        #expect(decoded.gradients.withUnsafeBytes { [UInt8]($0) } == sent)
        #expect(sent.count == encoding.byteWidth * bits.count)
    }

    /// The exact payload of a bfloat16 PARTIAL: three zero bytes, the encoding byte, then the
    /// u16 count and values, which start 4-byte aligned (28 + 52 bytes into the frame).
    @Test func compressedPartialBytesMatchTheSpec() {
        let partial = Partial(
            step: 0x0102_0304_0506_0708, shardID: 5, segment: 3, exampleCount: 7, correctCount: 6, lossSum: 1.5,
            computeSeconds: 0.25, gradients: .bfloat16([0x3F80, 0xBFC0]))
        let payload = TestFrames.payload(of: MessageCodec.encode(.partial(partial))[0])
        var expected = TestFrames.Payload()
        expected.append(UInt64(0x0102_0304_0506_0708))
        expected.append(UInt32(5))
        expected.append(UInt32(1)) // shardSpan: shard 5 alone
        expected.append(UInt32(3)) // segment
        expected.append(UInt32(7))
        expected.append(UInt32(6))
        expected.append((1.5 as Double).bitPattern)
        expected.append((0.25 as Double).bitPattern)
        expected.bytes += [0, 0, 0, 2] // padding, encoding bfloat16
        expected.append(UInt32(2))
        expected.bytes += [0x80, 0x3F, 0xC0, 0xBF]
        #expect(payload == expected.bytes)
        #expect(payload.count == 52 + 2 * 2)
        #expect((WireProtocol.headerSize + 52) % 4 == 0)
    }

    /// The exact payload of a float32 PARTIAL of a node of the tree (shards 8…15): `shardSpan`
    /// right after `shardID`, and the values 52 bytes in.
    @Test func nodePartialBytesMatchTheSpec() {
        let partial = Partial(
            step: 0x0102_0304_0506_0708, shardID: 8, shardSpan: 8, segment: 2, exampleCount: 256, correctCount: 200,
            lossSum: -0.5, computeSeconds: 2, gradients: .float32([1, -2]))
        let payload = TestFrames.payload(of: MessageCodec.encode(.partial(partial))[0])
        var expected = TestFrames.Payload()
        expected.append(UInt64(0x0102_0304_0506_0708))
        expected.append(UInt32(8)) // shardID
        expected.append(UInt32(8)) // shardSpan
        expected.append(UInt32(2)) // segment
        expected.append(UInt32(256))
        expected.append(UInt32(200))
        expected.append((-0.5 as Double).bitPattern)
        expected.append((2 as Double).bitPattern)
        expected.bytes += [0, 0, 0, 0] // padding, encoding float32
        expected.append([1, -2] as [Float])
        #expect(payload == expected.bytes)
        #expect(payload.count == 52 + 4 * 2)
    }

    /// The exact payload of a STEP: `treeShards` right after `step`, before the plan's count.
    @Test func stepBytesMatchTheSpec() {
        let step = Step(
            step: 0x0102_0304_0506_0708, treeShards: 12,
            plan: [
                ShardWork(shard: 9, selection: .range(4..<7)),
                ShardWork(shard: 2, selection: .list([5, 1])),
            ])
        let payload = TestFrames.payload(of: MessageCodec.encode(.step(step))[0])
        var expected = TestFrames.Payload()
        expected.append(UInt64(0x0102_0304_0506_0708))
        expected.append(UInt32(12)) // treeShards
        expected.append(UInt32(2)) // plan count
        expected.append(UInt32(9))
        expected.append(UInt8(0)) // range
        expected.append(UInt32(4))
        expected.append(UInt32(3))
        expected.append(UInt32(2))
        expected.append(UInt8(1)) // list
        expected.append(UInt32(2))
        expected.append(UInt32(5))
        expected.append(UInt32(1))
        #expect(payload == expected.bytes)
        #expect(payload.count == 16 + 13 + 9 + 4 * 2)
    }

    /// A float32 PARTIAL written in place is byte for byte the frame `encode` makes, for any
    /// number of values that fits one frame; more than that has no one-frame size.
    @Test func aPartialWrittenInPlaceIsTheCodecsFrame() throws {
        let most = (WireProtocol.maxFramePayload - 52) / 4
        for count in [0, 1, 7, 1000, 65_537, most] {
            let values = SampleMessages.distinctFloats(count, seed: 0.25)
            let partial = Partial(
                step: 9, shardID: 4, shardSpan: 4, segment: 2, exampleCount: 64, correctCount: 17, lossSum: 12.5,
                computeSeconds: 0.003, gradients: .float32(FloatArray(values)))
            let expected = MessageCodec.encode(.partial(partial))
            #expect(expected.count == 1)
            let size = try #require(MessageCodec.partialFrameBytes(count: count))
            var frame = [UInt8](repeating: 0xEE, count: size)
            values.withUnsafeBufferPointer { gradients in
                frame.withUnsafeMutableBytes {
                    MessageCodec.encodePartial(partial, gradients: gradients, into: $0.baseAddress!)
                }
            }
            #expect(frame == expected[0], "\(count) values")
        }
        #expect(MessageCodec.partialFrameBytes(count: most + 1) == nil)
    }

    @Test func largeStepIsCutIntoTwoFrames() throws {
        try expectMultiFrameRoundTrip(SampleMessages.largeStep, frames: 2)
    }

    @Test func largePartialIsCutIntoThreeFrames() throws {
        try expectMultiFrameRoundTrip(SampleMessages.largePartial, frames: 3)
    }

    /// A Partial's payload is 52 bytes plus 4 per Float32 gradient or 2 per 16-bit one: at
    /// exactly the limit it stays in one frame, one value more and it takes two.
    @Test(arguments: GradientEncoding.allCases)
    func frameLimitIsInclusive(encoding: GradientEncoding) throws {
        let width = encoding.byteWidth
        let fitting = (WireProtocol.maxFramePayload - 52) / width
        for (count, frameCount) in [(fitting, 1), (fitting + 1, 2)] {
            let gradients: PartialGradients =
                encoding == .float32
                ? .float32(FloatArray(SampleMessages.distinctFloats(count)))
                : PartialGradients(encoding, bits: HalfArray(SampleMessages.distinctBits(count)))
            let message = Message.partial(
                Partial(
                    step: 1, shardID: 0, exampleCount: 1, correctCount: 1, lossSum: 0, gradients: gradients
                ))
            let frames = MessageCodec.encode(message)
            #expect(frames.count == frameCount)
            #expect(frames.reduce(0) { $0 + $1.count } == 52 + width * count + frameCount * WireProtocol.headerSize)
            #expect(try MessageCodec.decode(frames) == message)
        }
    }

    /// NaN payloads, signed zeros, infinities and subnormals survive bit for bit; `==` would
    /// not notice a changed NaN, so the bit patterns are compared.
    @Test func floatBitsArePreserved() throws {
        let specials: [Float] = [
            .nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFF80_0001), -0.0, 0.0,
            .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1.0 / 3.0,
        ]
        let message = Message.partial(
            Partial(
                step: 9, shardID: 0, exampleCount: 0, correctCount: 0, lossSum: -.nan,
                gradients: .float32(FloatArray(specials))
            ))
        guard case .partial(let decoded) = try MessageCodec.decode(MessageCodec.encode(message)),
            case .float32(let gradients) = decoded.gradients
        else {
            Issue.record("decoded to another kind or encoding")
            return
        }
        #expect(gradients.map { $0.bitPattern } == specials.map(\.bitPattern))
        #expect(decoded.lossSum.bitPattern == (-Double.nan).bitPattern)
    }

    /// Strings past the limit are cut on a scalar boundary, so the receiver still accepts them.
    @Test func longStringIsCutToTheLimitAsValidUTF8() throws {
        let reason = String(repeating: "a", count: 4095) + "é" + String(repeating: "z", count: 100)
        let decoded = try MessageCodec.decode(MessageCodec.encode(.bye(Bye(reason: reason))))
        #expect(decoded == .bye(Bye(reason: String(repeating: "a", count: 4095))))

        let exact = "a" + String(repeating: "€", count: (WireProtocol.maxStringBytes - 1) / 3)
        #expect(exact.utf8.count == WireProtocol.maxStringBytes)
        let refuse = Message.refuse(Refuse(reason: exact))
        #expect(try MessageCodec.decode(MessageCodec.encode(refuse)) == refuse)
    }

    private func expectMultiFrameRoundTrip(_ message: Message, frames expectedCount: Int) throws {
        let frames = MessageCodec.encode(message)
        #expect(frames.count == expectedCount)
        for (index, frame) in frames.enumerated() {
            let header = TestFrames.header(of: frame)
            #expect(header.part == UInt16(index))
            #expect(header.parts == UInt16(expectedCount))
            #expect(header.kind == message.kind.rawValue)
            let isLast = index == frames.count - 1
            #expect(
                isLast
                    ? frame.count <= WireProtocol.headerSize + WireProtocol.maxFramePayload
                    : frame.count == WireProtocol.headerSize + WireProtocol.maxFramePayload)
        }
        #expect(try MessageCodec.decode(frames) == message)
    }
}
