import Core
import Testing

@testable import Wire

/// LOCAL_STEPS (protocol 10): what no coordinator sends is refused as a malformed payload before
/// a worker maps anything or takes a step.
@Suite("LOCAL_STEPS")
struct LocalStepsMessageTests {
    static let valid = LocalSteps(
        step: 10, last: 20, pid: 4242, fd: 9, party: 1, parties: 2, shards: [2, 3], shardCount: 4,
        exampleCount: 1000, batch: 64, seed: 3, learningRate: 0.01, schedule: .cosine(totalSteps: 100),
        optimizer: OptimizerSettings(kind: .adam), updates: 10, timeoutMilliseconds: 10_000)

    @Test("A span as the coordinator sends it comes back as it was")
    func roundTrip() throws {
        #expect(try MessageCodec.decode(MessageCodec.encode(.localSteps(Self.valid))) == .localSteps(Self.valid))
    }

    @Test(
        "Spans no coordinator sends are refused",
        arguments: [
            ("a span that ends where it starts", { @Sendable (s: inout LocalSteps) in s.last = s.step }),
            ("a span longer than the ring of records", { @Sendable (s: inout LocalSteps) in s.last = s.step + 4097 }),
            ("a party outside the processes", { @Sendable (s: inout LocalSteps) in s.party = 2 }),
            ("no processes", { @Sendable (s: inout LocalSteps) in (s.parties, s.party) = (0, 0) }),
            ("more processes than shards", { @Sendable (s: inout LocalSteps) in s.parties = 5 }),
            ("a shard twice", { @Sendable (s: inout LocalSteps) in s.shards = [2, 2] }),
            ("a shard outside the run", { @Sendable (s: inout LocalSteps) in s.shards = [4] }),
            ("pid 0", { @Sendable (s: inout LocalSteps) in s.pid = 0 }),
            ("a negative descriptor", { @Sendable (s: inout LocalSteps) in s.fd = -1 }),
            ("fewer examples than shards", { @Sendable (s: inout LocalSteps) in s.exampleCount = 3 }),
            ("a learning rate that is not a number", { @Sendable (s: inout LocalSteps) in s.learningRate = .nan }),
            ("no timeout", { @Sendable (s: inout LocalSteps) in s.timeoutMilliseconds = 0 }),
            ("a cosine over no steps", { @Sendable (s: inout LocalSteps) in s.schedule = .cosine(totalSteps: 0) }),
            (
                "a step schedule of period 0",
                { @Sendable (s: inout LocalSteps) in s.schedule = .step(everyEpochs: 0, factor: 1) }
            ),
        ] as [(String, @Sendable (inout LocalSteps) -> Void)])
    func refused(_ what: String, _ spoil: @Sendable (inout LocalSteps) -> Void) {
        var steps = Self.valid
        spoil(&steps)
        let frames = MessageCodec.encode(.localSteps(steps))
        #expect(throws: WireError.self, "\(what) was taken") { try MessageCodec.decode(frames) }
        do {
            _ = try MessageCodec.decode(frames)
        } catch {
            guard case .malformedPayload = error else {
                Issue.record("\(what): \(error), not a malformed payload")
                return
            }
        }
    }
}
