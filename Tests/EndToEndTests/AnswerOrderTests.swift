import Foundation
import Testing

extension EndToEnd {
    /// Partials are added in shard order whatever order they arrive in (invariant 2): holding one
    /// worker's answers back (`DESCENT_FAULTS=delay@R=MS`) must not change a bit.
    @Suite("Answer order does not change the result")
    struct AnswerOrderTests {
        static let delayMilliseconds = 40

        @Test(arguments: [0, 64])
        func delayedWorkersGiveTheUndisturbedBits(batch: Int) async throws {
            let scratch = try ScratchDirectory("answer-order")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: batch) + ["--shards", "3"]

            let undisturbed = scratch.file("undisturbed.safetensors")
            try await SyntheticTraining.run(common + ["--local-workers", "3", "--out", undisturbed], in: scratch)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)
            #expect(
                try ModelComparison.sameBytes(undisturbed, reference),
                "--local-workers 3 differs from --in-process --shards 3")

            for rank in [0, 2] {
                let faults = "delay@\(rank)=\(Self.delayMilliseconds)"
                let out = scratch.file("delay-\(rank).safetensors")
                let summary = try await SyntheticTraining.run(
                    common + ["--local-workers", "3", "--out", out], environment: ["DESCENT_FAULTS": faults],
                    in: scratch)
                // Every step waits for the held-back partial, so the fault visibly took effect.
                let minimum = Double(SyntheticTraining.steps * Self.delayMilliseconds) / 1000
                let wall = summary.double("wall_s") ?? 0
                #expect(
                    wall >= minimum, "DESCENT_FAULTS=\(faults): wall_s \(wall) < \(minimum); was the delay applied?")
                #expect(try ModelComparison.sameBytes(out, undisturbed), "DESCENT_FAULTS=\(faults) changed the weights")
            }
        }
    }
}
