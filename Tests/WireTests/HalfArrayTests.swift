import Core
import Testing

@testable import Wire

@Suite struct HalfArrayTests {
    /// A decoded 16-bit PARTIAL views its frame: the bit patterns read back exactly and are handed
    /// on in place, in a single frame and in the joined payload of several.
    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func decodedBitsAreViewsOfTheFrame(encoding: GradientEncoding) throws {
        for count in [1001, WireProtocol.maxFramePayload / 2 + 10] {
            let bits = SampleMessages.distinctBits(count, seed: 0x1234)
            let frames = MessageCodec.encode(
                .partial(
                    Partial(
                        step: 3, shardID: 0, exampleCount: 1, correctCount: 1, lossSum: 0,
                        gradients: PartialGradients(encoding, bits: HalfArray(bits)))))
            #expect(frames.count == (count > 1001 ? 2 : 1))
            guard case .partial(let decoded) = try MessageCodec.decode(frames) else {
                Issue.record("decoded to another kind")
                return
            }
            #expect(decoded.encoding == encoding)
            switch decoded.gradients {
            case .float16(let received), .bfloat16(let received):
                expectInPlace(received, bits: bits, frames: frames)
            case .float32:
                Issue.record("16-bit gradients decoded as float32")
            }
        }
    }

    private func expectInPlace(_ received: HalfArray, bits: [UInt16], frames: [[UInt8]]) {
        #expect(Array(received) == bits)
        received.withUnsafeBits { view in
            #expect(Int(bitPattern: view.baseAddress) % 4 == 0, "16-bit gradients start 4-byte aligned")
            #expect(view.count == bits.count && view[bits.count - 1] == bits[bits.count - 1])
            guard frames.count == 1 else { return }
            let frameRange = frames[0].withUnsafeBytes {
                UInt(bitPattern: $0.baseAddress)..<UInt(bitPattern: $0.baseAddress) + UInt($0.count)
            }
            #expect(frameRange.contains(UInt(bitPattern: view.baseAddress)), "the bits were copied out of the frame")
        }
    }

    /// Values at an odd offset are handed on as an aligned copy, with the same bits.
    @Test func unalignedViewsAreCopiedAligned() {
        let bits: [UInt16] = [0x3C00, 0x7E01, 0xFC00, 0x8000, 0x0001]
        let bytes = [UInt8](repeating: 0xEE, count: 3) + bits.withUnsafeBytes { [UInt8]($0) }
        let view = HalfArray(viewing: bytes, offset: 3, count: bits.count)
        view.withUnsafeBits { aligned in
            #expect(Int(bitPattern: aligned.baseAddress) % 2 == 0)
            #expect(Array(aligned) == bits)
        }
        #expect(Array(view) == bits)
    }

    /// Encoding 16-bit gradients from a borrowed buffer writes the bytes encoding the same
    /// message writes, and it decodes to that message.
    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func encodingInPlaceMatchesEncodingAMessage(encoding: GradientEncoding) throws {
        let header = Partial(
            step: 5, shardID: 2, exampleCount: 9, correctCount: 4, lossSum: 2.5, computeSeconds: 0.25,
            gradients: .float32([]))
        let bits = SampleMessages.distinctBits(WireProtocol.maxFramePayload / 2 + 7)
        let inPlace = bits.withUnsafeBufferPointer { MessageCodec.encodePartial(header, encoding: encoding, bits: $0) }
        #expect(inPlace.count == 2)
        var whole = header
        whole.gradients = PartialGradients(encoding, bits: HalfArray(bits))
        #expect(inPlace == MessageCodec.encode(.partial(whole)))
        #expect(try MessageCodec.decode(inPlace) == .partial(whole))
    }

    /// Equality compares bit patterns: a NaN pattern equals itself, and +0 differs from −0.
    @Test func equalityComparesBits() {
        let bits: [UInt16] = [1, 2, 3]
        let bytes = [UInt8](repeating: 0, count: 2) + bits.withUnsafeBytes { [UInt8]($0) }
        #expect(HalfArray(bits) == HalfArray(viewing: bytes, offset: 2, count: 3))
        #expect(HalfArray([0x7E00]) == HalfArray([0x7E00]))
        #expect(HalfArray([0x0000]) != HalfArray([0x8000]))
        #expect(HalfArray(bits) != HalfArray([1, 2]))
        #expect(PartialGradients.float16(HalfArray(bits)) != PartialGradients.bfloat16(HalfArray(bits)))
    }
}
