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

        /// The reduction tree (invariant 2): with 8 shards, the in-process path (one thread, and two
        /// computing shards side by side) and 1–4 workers — aligned blocks on 2 and 4, unaligned on 3
        /// (shards 0…2, 3…5, 6…7) — write the same bits, with sgd and with adam. Workers add the
        /// shards they hold before sending: 2 workers holding 4 shards each send the coordinator one
        /// gradient each a step, where 8 went before.
        @Test(arguments: ["sgd", "adam"])
        func eightShardsAddedByTheTreeGiveTheSameBitsWherever(optimizer: String) async throws {
            let scratch = try ScratchDirectory("tree-\(optimizer)")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            var common = SyntheticTraining.flags(csv: csv, batch: 64)
            // A gradient large enough (4,931 values) that frame headers do not blur the byte count.
            common[common.firstIndex(of: "--layers")! + 1] = "8,64,64,3"
            common[common.firstIndex(of: "--lr")! + 1] = optimizer == "adam" ? "0.01" : "0.2"
            common += ["--shards", "8", "--optimizer", optimizer]
            let gradientBytes = 4 * (8 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3)

            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)
            var runs: [(name: String, flags: [String])] = [
                ("--in-process --threads 2", ["--in-process", "--threads", "2"])
            ]
            for workers in 1...4 { runs.append(("--local-workers \(workers)", ["--local-workers", String(workers)])) }
            // Every step through messages, whose bytes are counted below.
            runs.append(("--local-workers 2 --no-local-steps", ["--local-workers", "2", "--no-local-steps"]))
            for (index, run) in runs.enumerated() {
                let out = scratch.file("run-\(index).safetensors")
                let metrics = scratch.file("run-\(index).jsonl")
                try await SyntheticTraining.run(common + run.flags + ["--out", out, "--metrics", metrics], in: scratch)
                // Two threads record blas_threads 2 in the model's metadata; the tensors must agree.
                let same = index == 0 ? ModelComparison.sameTensors : ModelComparison.sameBytes
                #expect(
                    try same(out, reference),
                    "\(run.name) --shards 8 --optimizer \(optimizer) differs from --in-process")
                guard run.name == "--local-workers 2 --no-local-steps" else { continue }
                // Until placement by speed first moves a shard (every 8 steps at most, when the two
                // differ under load) each worker holds its 4 shards.
                let steps = try MetricsFile(path: metrics).steps
                let received = steps.prefix { $0.int("shard_moves") == 0 }.map { $0.int("bytes_received") ?? 0 }
                #expect(steps.count == SyntheticTraining.steps && received.count >= 8)
                #expect(
                    received.allSatisfy { $0 >= 2 * gradientBytes && Double($0) <= 2.5 * Double(gradientBytes) },
                    "2 workers × 4 shards: bytes received a step \(received), a gradient is \(gradientBytes)")
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
