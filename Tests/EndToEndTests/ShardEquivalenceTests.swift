import Foundation
import Testing

extension EndToEnd {
    /// Invariants 1–3 of DESIGN.md seen from outside: with the same shards and seed, every number
    /// of workers writes the reference path's bits; with other shard counts, nearly its numbers.
    @Suite("Any worker count gives the in-process bits")
    struct ShardEquivalenceTests {
        @Test(arguments: [0, 64])
        func fourShardsGiveTheSameBitsOnAnyWorkerCount(batch: Int) async throws {
            let scratch = try ScratchDirectory("shards")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: batch) + ["--shards", "4"]

            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(
                common + ["--in-process", "--out", reference, "--metrics", scratch.file("in-process.jsonl")],
                in: scratch)
            let referenceMetrics = try MetricsFile(path: scratch.file("in-process.jsonl"))
            let losses = referenceMetrics.steps.compactMap { $0.double("loss") }
            try #require(losses.count == SyntheticTraining.steps)
            #expect(losses.last! < losses.first!, "20 steps did not lower the loss: \(losses)")

            for workers in 1...4 {
                let out = scratch.file("workers-\(workers).safetensors")
                let metricsPath = scratch.file("workers-\(workers).jsonl")
                let summary = try await SyntheticTraining.run(
                    common + ["--local-workers", String(workers), "--out", out, "--metrics", metricsPath], in: scratch)
                #expect(summary.int("workers") == workers)
                let difference = try ModelComparison.relativeDifference(out, reference)
                #expect(
                    try ModelComparison.sameBytes(out, reference),
                    "--local-workers \(workers) --shards 4 differs from --in-process --shards 4 (max |Δ|/max|W| = \(difference))"
                )

                let metrics = try MetricsFile(path: metricsPath)
                #expect(metrics.steps.count == SyntheticTraining.steps)
                for (index, line) in metrics.steps.enumerated() {
                    let expected = SyntheticTraining.expectedExamples(step: index + 1, batch: batch)
                    #expect(
                        line.int("examples") == expected,
                        "--local-workers \(workers), step \(index + 1): examples \(line["examples"] ?? "missing"), expected \(expected)"
                    )
                    #expect(
                        line.int("workers") == workers, "step \(index + 1): workers \(line["workers"] ?? "missing")")
                }
                // Same bits in, same bits out: the reported losses agree exactly too.
                let reported = metrics.steps.compactMap { $0.double("loss") }
                let firstDifference = reported.indices.first { $0 >= losses.count || reported[$0] != losses[$0] }
                let sameLosses = reported == losses
                #expect(
                    sameLosses,
                    "--local-workers \(workers) reported other losses from step \((firstDifference ?? reported.count) + 1)"
                )
            }
        }

        /// With one shard per worker the sums are grouped differently, so only rounding may differ.
        @Test func defaultShardCountsStayCloseToOneShard() async throws {
            let scratch = try ScratchDirectory("default-shards")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: 0)
            let reference = scratch.file("one-shard.safetensors")
            try await SyntheticTraining.run(
                common + ["--in-process", "--shards", "1", "--out", reference], in: scratch)

            for workers in 2...4 {
                let out = scratch.file("workers-\(workers).safetensors")
                let summary = try await SyntheticTraining.run(
                    common + ["--local-workers", String(workers), "--out", out], in: scratch)
                #expect(summary.int("workers") == workers)
                let difference = try ModelComparison.relativeDifference(out, reference)
                #expect(
                    difference <= 1e-5,
                    "--local-workers \(workers): max |Δ|/max|W| = \(difference) from --in-process --shards 1")
            }
        }
    }
}
