import Core
import Testing

@testable import Wire

/// The broadcast tree's messages (protocol 7): RELAY, PARAMS_PART, HELLO's relay endpoint. What a
/// hostile peer could put in them is refused before anything is allocated or held.
@Suite("Broadcast tree messages")
struct BroadcastMessageTests {
    private func frame(_ kind: MessageKind, _ build: (inout TestFrames.Payload) -> Void) -> [UInt8] {
        var payload = TestFrames.Payload()
        build(&payload)
        return TestFrames.frame(.init(kind: kind.rawValue, step: 3), payload: payload.bytes)
    }

    private func piece(offset: UInt32, total: UInt32, count: UInt32) -> [UInt8] {
        frame(.paramsPart) {
            $0.append(UInt64(3))
            $0.append(offset)
            $0.append(total)
            $0.append(count)
            for index in 0..<count { $0.append(Float(index).bitPattern) }
        }
    }

    @Test func aPieceMustLieInsideItsTotal() {
        #expect(TestFrames.decodeError([piece(offset: 0, total: 4, count: 4)]) == nil)
        #expect(
            TestFrames.decodeError([piece(offset: 2, total: 4, count: 3)]) == .malformedPayload("parameters 2..<5 of 4")
        )
        #expect(
            TestFrames.decodeError([piece(offset: UInt32.max, total: UInt32.max, count: 1)])
                == .malformedPayload("parameters \(UInt32.max)..<\(UInt64(UInt32.max) + 1) of \(UInt32.max)"))
        #expect(
            TestFrames.decodeError([piece(offset: 0, total: 4, count: 0)]) == .malformedPayload("parameters 0..<0 of 4")
        )
    }

    @Test func aRelayListTooLongForItsPayloadIsRefusedBeforeAllocating() {
        let relay = frame(.relay) {
            $0.append(UInt32(0)) // parentAddress, empty
            $0.append(UInt32.max) // children count
        }
        #expect(
            TestFrames.decodeError([relay]) == .malformedPayload("children count \(UInt32.max) cannot fit in 0 bytes"))
    }

    @Test func piecesCoverTheParametersInOrder() throws {
        let values = (0..<40_000).map { Float($0) * 0.25 }
        try values.withUnsafeBufferPointer { buffer in
            let outgoing = OutgoingParams(step: 9, values: buffer)
            var rebuilt: [Float] = []
            for frames in outgoing.parts {
                guard case .paramsPart(let part) = try MessageCodec.decode(frames) else {
                    Issue.record("a piece did not decode as PARAMS_PART")
                    return
                }
                #expect(part.step == 9 && part.total == 40_000 && Int(part.offset) == rebuilt.count)
                #expect(part.values.count <= OutgoingParams.partValues)
                rebuilt += part.values.withUnsafeFloats { Array($0) }
            }
            #expect(outgoing.parts.count == 3)
            #expect(rebuilt == values)
        }
    }
}
