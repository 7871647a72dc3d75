import Foundation
import Testing

extension EndToEnd {
    /// `train --compress fp16|bf16`: workers send 16-bit partials with error feedback. Lossy by
    /// design, so held to "trains as well and is repeatable", not to the uncompressed bits.
    @Suite("Compressed partials")
    struct CompressionTests {
        static func flags(csv: String) -> [String] {
            // One shard a worker: an uncompressed worker holding several would add them and send one
            // vector (the reduction tree), a 16-bit one sends each shard with its own residual.
            SyntheticTraining.flags(csv: csv, batch: 64) + ["--local-workers", "2", "--shards", "2"]
        }

        /// Both formats train to within 2% of the uncompressed final loss (they agree to about
        /// 10⁻⁵ here: error feedback delays a rounding by a step, it does not drop it), repeat
        /// their own bits exactly, differ from the uncompressed weights, and receive about half
        /// the bytes (a partial's segments carry 2 bytes a value instead of 4; headers and
        /// heartbeats aside).
        @Test(arguments: ["bf16", "fp16"])
        func compressedRunsTrainRepeatablyAndDifferFromUncompressed(format: String) async throws {
            let scratch = try ScratchDirectory("compress-\(format)")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let plain = scratch.file("none.safetensors")
            // Through messages, as the compressed runs go: their bytes are compared.
            let plainSummary = try await SyntheticTraining.run(
                Self.flags(csv: csv) + ["--out", plain, "--metrics", scratch.file("none.jsonl"), "--no-local-steps"],
                in: scratch)
            let plainLoss = try #require(plainSummary.double("final_loss"))

            var outs: [String] = []
            for run in 1...2 {
                let out = scratch.file("\(format)-\(run).safetensors")
                let metrics = scratch.file("\(format)-\(run).jsonl")
                let summary = try await SyntheticTraining.run(
                    Self.flags(csv: csv) + ["--compress", format, "--out", out, "--metrics", metrics], in: scratch)
                let loss = try #require(summary.double("final_loss"))
                #expect(summary.int("steps") == SyntheticTraining.steps)
                #expect(
                    abs(loss - plainLoss) <= 0.02 * plainLoss,
                    "--compress \(format): final loss \(loss), uncompressed \(plainLoss)")
                outs.append(out)
            }
            #expect(
                try ModelComparison.sameBytes(outs[0], outs[1]), "two --compress \(format) runs wrote different weights"
            )
            #expect(
                try !ModelComparison.sameBytes(outs[0], plain),
                "--compress \(format) wrote the uncompressed bits: nothing was compressed")
            let difference = try ModelComparison.relativeDifference(outs[0], plain)
            #expect(
                difference <= 1e-2, "--compress \(format): max |Δ|/max|W| = \(difference) from the uncompressed run")

            let received = { (name: String) in
                try MetricsFile(path: scratch.file(name)).steps.reduce(0) { $0 + ($1.int("bytes_received") ?? 0) }
            }
            let (compressedBytes, plainBytes) = (try received("\(format)-1.jsonl"), try received("none.jsonl"))
            #expect(
                plainBytes > 0 && Double(compressedBytes) < 0.6 * Double(plainBytes),
                "--compress \(format) received \(compressedBytes) bytes, uncompressed \(plainBytes)")
        }

        /// Failures still work compressed. A worker sending NaN is caught once its 16-bit partial
        /// is read back, and dropped; a worker that exits is lost. Either way its shard moves on and
        /// starts again with a zero residual, every step is finished, and the run ends finite and
        /// within 2% of the final loss of the same compressed run undisturbed.
        @Test(arguments: ["nan@1=4", "exit@1=7"])
        func compressedRunsSurviveABadOrLostWorker(fault: String) async throws {
            let scratch = try ScratchDirectory("compress-fault")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common =
                SyntheticTraining.flags(csv: csv, batch: 64)
                + ["--local-workers", "3", "--shards", "3", "--compress", "bf16", "--worker-timeout", "2"]
            let clean = try await SyntheticTraining.run(
                common + ["--out", scratch.file("clean.safetensors")], in: scratch)
            let cleanLoss = try #require(clean.double("final_loss"))

            let out = scratch.file("fault.safetensors")
            let metrics = scratch.file("fault.jsonl")
            let outcome = try await reaper.track(
                try Descent.launchCoordinator(
                    common + ["--out", out, "--metrics", metrics], environment: ["DESCENT_FAULTS": fault], in: scratch)
            )
            .wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("worker 1 (") && $0.contains("lost") },
                "the coordinator did not drop worker 1\n\(outcome.transcript)")
            let lines = try MetricsFile(path: metrics).steps
            #expect(lines.count == SyntheticTraining.steps)
            for (index, line) in lines.enumerated() {
                #expect(
                    line.int("examples") == SyntheticTraining.expectedExamples(step: index + 1, batch: 64),
                    "step \(index + 1)")
            }
            let loss = try #require(try outcome.summary().double("final_loss"))
            #expect(abs(loss - cleanLoss) <= 0.02 * cleanLoss, "final loss \(loss) with \(fault), \(cleanLoss) without")
            #expect(try CheckpointFiles.nonFiniteTensors(out).isEmpty)
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        /// In-process nothing is sent, so there is nothing to compress: refused, not ignored.
        @Test func compressIsRefusedInProcess() async throws {
            let scratch = try ScratchDirectory("compress-in-process")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let outcome = try await Descent.coordinator(
                SyntheticTraining.flags(csv: csv, batch: 64) + [
                    "--in-process", "--compress", "bf16", "--out", "out.safetensors",
                ], in: scratch)
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("--compress") && outcome.stderr.contains("--in-process"),
                "\(outcome.transcript)")
            #expect(!scratch.exists("out.safetensors"))
        }

        /// `compress` is a config key like the others, and `--print-config` shows it; `none` is
        /// accepted in-process, so a printed in-process config still runs.
        @Test func compressIsAConfigKeyAndPrinted() async throws {
            let scratch = try ScratchDirectory("compress-config")
            try "local-workers: 2\ncompress: fp16\n".write(
                toFile: scratch.file("run.yaml"), atomically: true, encoding: .utf8)
            let printed = try await Descent.coordinator(
                ["train", "--config", "run.yaml", "--print-config"], in: scratch)
            #expect(printed.succeeded && printed.stdout.contains("compress: fp16"), "\(printed.transcript)")
            let overridden = try await Descent.coordinator(
                ["train", "--config", "run.yaml", "--compress", "bf16", "--print-config"], in: scratch)
            #expect(overridden.stdout.contains("compress: bf16"), "\(overridden.transcript)")
            let defaults = try await Descent.coordinator(
                ["train", "--in-process", "--compress", "none", "--print-config"], in: scratch)
            #expect(defaults.succeeded && defaults.stdout.contains("compress: none"), "\(defaults.transcript)")
            let unknown = try await Descent.coordinator(
                ["train", "--local-workers", "2", "--compress", "int8"], in: scratch)
            #expect(unknown.failedCleanly && unknown.stderr.contains("int8"), "\(unknown.transcript)")
        }
    }
}
