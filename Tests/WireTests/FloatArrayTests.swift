import Testing

@testable import Wire

@Suite struct FloatArrayTests {
    /// A decoded PARAMS or PARTIAL views its frame: the values read back exactly, and the view
    /// hands them on in place (4-byte aligned in every frame the codec makes).
    @Test func decodedArraysAreViewsOfTheFrame() throws {
        let values = SampleMessages.distinctFloats(1001, seed: 0.125)
        let frames = MessageCodec.encode(.params(Params(step: 3, values: FloatArray(values))))
        guard case .params(let decoded) = try MessageCodec.decode(frames) else {
            Issue.record("decoded to another kind")
            return
        }
        #expect(decoded.values.array.map(\.bitPattern) == values.map(\.bitPattern))
        let frameRange = frames[0].withUnsafeBytes {
            UInt(bitPattern: $0.baseAddress)..<UInt(bitPattern: $0.baseAddress) + UInt($0.count)
        }
        decoded.values.withUnsafeFloats { floats in
            #expect(
                frameRange.contains(UInt(bitPattern: floats.baseAddress)), "the floats were copied out of the frame")
            #expect(floats.count == values.count && floats[1000] == values[1000])
        }
        var copied = [Float](repeating: 0, count: values.count)
        copied.withUnsafeMutableBufferPointer { decoded.values.copy(into: $0.baseAddress!) }
        #expect(copied.map(\.bitPattern) == values.map(\.bitPattern))
    }

    /// A worker computes with the parameters where they arrived: the pointer stays good, and the
    /// values unchanged, for as long as any copy of the message lives.
    @Test func receivedFloatsOutliveTheDecodingAsLongAsTheMessage() throws {
        let values = SampleMessages.distinctFloats(4097, seed: 0.75)
        var kept: Params?
        let pointer: UnsafePointer<Float>
        do {
            guard
                case .params(let decoded) = try MessageCodec.decode(
                    MessageCodec.encode(.params(Params(step: 9, values: FloatArray(values)))))
            else {
                Issue.record("decoded to another kind")
                return
            }
            kept = decoded
            pointer = try #require(decoded.values.receivedFloats)
        }
        // Churn the heap: had the frame been freed, its memory would be reused here.
        let churn = (0..<64).map { [Float](repeating: .nan, count: 4097 + $0) }
        #expect(churn.count == 64)
        #expect(UnsafeBufferPointer(start: pointer, count: values.count).map(\.bitPattern) == values.map(\.bitPattern))
        #expect(kept?.step == 9)
        #expect(
            Params(step: 1, values: FloatArray(borrowing: UnsafeBufferPointer(start: pointer, count: 1))).values
                .receivedFloats == nil,
            "borrowed values are valid only during an encoder's call")
    }

    /// A PARTIAL's Float32 gradients, behind the padding and encoding byte, are read in place too.
    @Test func decodedPartialGradientsAreViewsOfTheFrame() throws {
        let values = SampleMessages.distinctFloats(333, seed: 0.5)
        let frames = MessageCodec.encode(
            .partial(
                Partial(
                    step: 1, shardID: 0, exampleCount: 1, correctCount: 0, lossSum: 0,
                    gradients: .float32(FloatArray(values)))))
        guard case .partial(let decoded) = try MessageCodec.decode(frames),
            case .float32(let gradients) = decoded.gradients
        else {
            Issue.record("decoded to another kind or encoding")
            return
        }
        let frameRange = frames[0].withUnsafeBytes {
            UInt(bitPattern: $0.baseAddress)..<UInt(bitPattern: $0.baseAddress) + UInt($0.count)
        }
        gradients.withUnsafeFloats { floats in
            #expect(
                frameRange.contains(UInt(bitPattern: floats.baseAddress)), "the floats were copied out of the frame")
            #expect(floats.map(\.bitPattern) == values.map(\.bitPattern))
        }
    }

    /// Values at an odd offset are handed on as an aligned copy, with the same bits.
    @Test func unalignedViewsAreCopiedAligned() {
        let values: [Float] = [1.5, -.nan, .infinity, -0.0, 7]
        let bytes = [UInt8](repeating: 0xEE, count: 3) + values.withUnsafeBytes { [UInt8]($0) }
        let view = FloatArray(viewing: bytes, offset: 3, count: values.count)
        view.withUnsafeFloats { floats in
            #expect(Int(bitPattern: floats.baseAddress) % 4 == 0)
            #expect(floats.map(\.bitPattern) == values.map(\.bitPattern))
        }
        #expect(view.map(\.bitPattern) == values.map(\.bitPattern))
    }

    /// Encoding from a borrowed buffer writes the bytes encoding the same message writes.
    @Test func encodingInPlaceMatchesEncodingAMessage() throws {
        let values = SampleMessages.distinctFloats(WireProtocol.maxFramePayload / 4 + 10)
        let inPlace = values.withUnsafeBufferPointer { MessageCodec.encodeParams(step: 11, values: $0) }
        #expect(inPlace.count == 2)
        #expect(inPlace == MessageCodec.encode(.params(Params(step: 11, values: FloatArray(values)))))

        // A node's partial (shards 2…3), as a worker that adds its shards sends it.
        let header = Partial(
            step: 5, shardID: 2, shardSpan: 2, exampleCount: 9, correctCount: 4, lossSum: 2.5, computeSeconds: 0.25,
            gradients: .float32([]))
        let gradients = SampleMessages.distinctFloats(77)
        let partialFrames = gradients.withUnsafeBufferPointer { MessageCodec.encodePartial(header, gradients: $0) }
        var whole = header
        whole.gradients = .float32(FloatArray(gradients))
        #expect(partialFrames == MessageCodec.encode(.partial(whole)))
        #expect(try MessageCodec.decode(partialFrames) == .partial(whole))
    }

    /// Equality is Float equality, as for `[Float]`: equal values compare equal however they are
    /// stored, and an array holding NaN is not equal to itself.
    @Test func equalityFollowsFloat() {
        let values: [Float] = [1, 2, 3]
        let bytes = [UInt8](repeating: 0, count: 4) + values.withUnsafeBytes { [UInt8]($0) }
        #expect(FloatArray(values) == FloatArray(viewing: bytes, offset: 4, count: 3))
        #expect(FloatArray(values) != FloatArray([1, 2, 4]))
        #expect(FloatArray(values) != FloatArray([1, 2]))
        let nan = FloatArray([.nan])
        #expect(nan != nan)
    }
}
