import Foundation
import Testing

extension EndToEnd {
    /// Shards follow the compute (issue 20): a worker slowed to half speed gives shards to the
    /// other, which changes no bit.
    @Suite("Stragglers")
    struct StragglerTests {
        /// Stops and continues `pid` in turns of `milliseconds` until `stop` is set: a worker at
        /// half speed, as a noisy neighbour or a throttled VM would leave it.
        final class Throttle: @unchecked Sendable {
            private let lock = NSLock()
            private var running = true

            init(pid: Int32, milliseconds: UInt32) {
                Thread.detachNewThread { [self] in
                    while lock.withLock({ running }) {
                        kill(pid, SIGSTOP)
                        usleep(milliseconds * 1000)
                        kill(pid, SIGCONT)
                        usleep(milliseconds * 1000)
                    }
                    kill(pid, SIGCONT)
                }
            }

            func stop() { lock.withLock { running = false } }
        }

        @Test func aHalfSpeedWorkerGivesShardsAwayWithoutChangingABit() async throws {
            let scratch = try ScratchDirectory("straggler")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common =
                SyntheticTraining.flags(csv: csv, batch: 1001, steps: 60) + [
                    "--layers", "8,512,512,3", "--shards", "8",
                ]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("slowed.safetensors")
            let metrics = scratch.file("slowed.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + ["--local-workers", "2", "--out", out, "--metrics", metrics], in: scratch))
            var victim: ProcessTable.Entry?
            let found = await coordinator.poll(timeout: .seconds(30)) {
                victim = ProcessTable.workers(of: coordinator.pid).first { $0.arguments.contains("local-1") }
                return victim != nil
            }
            try #require(found, "no worker local-1\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            // Partials take milliseconds here, so the stops land inside them and the worker's measured
            // compute speed halves.
            let throttle = Throttle(pid: victim!.pid, milliseconds: 3)
            let outcome = try await coordinator.wait(timeout: .seconds(120))
            throttle.stop()
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("moves from worker") && $0.contains("by measured speed") },
                "no shard moved away from the slowed worker\n\(outcome.transcript)")
            let moves = try MetricsFile(path: metrics).steps.compactMap { $0.int("shard_moves") }.max() ?? 0
            #expect(moves >= 1, "the metrics count no shard move")
            #expect(try ModelComparison.sameTensors(out, reference), "moving shards changed the weights")
        }

        /// Backup computation (issue 20): a worker stopped (SIGSTOP) at step 5 holds nothing up —
        /// the coordinator computes its shards — and once continued it answers and is asked again.
        /// Every partial takes 20 ms (`delay@*`), so the run lasts long enough to see both.
        @Test func aStoppedWorkerIsBackedUpAndRejoinsTheWork() async throws {
            let scratch = try ScratchDirectory("backup")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: 64, steps: 150) + ["--shards", "4"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("backup.safetensors")
            let metrics = scratch.file("backup.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--local-workers", "2", "--worker-timeout", "60", "--backup-after", "0.25", "--out", out,
                        "--metrics", metrics,
                    ],
                    environment: ["DESCENT_FAULTS": "stall@1=5,delay@*=20"], in: scratch))
            let backedUp = await coordinator.poll(timeout: .seconds(30)) {
                coordinator.stderrSoFar.contains("the coordinator computed its shard(s)")
            }
            try #require(backedUp, "no backup computation\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let computedAlone = await MetricsFile.waitForSteps(12, in: metrics, of: coordinator)
            #expect(computedAlone, "the run did not go on without the stopped worker")
            for worker in ProcessTable.workers(of: coordinator.pid) where worker.state == "T" {
                kill(worker.pid, SIGCONT)
            }
            let outcome = try await coordinator.wait(timeout: .seconds(90))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            // The fault stalls rank 1, which is local-1 whichever local worker registered first.
            let line = outcome.stderrLines.first { $0.contains("the coordinator computed its shard(s)") } ?? ""
            #expect(line.contains("for worker 1 (local-1)"), "\(line)")
            #expect(
                outcome.stderr.contains("worker 1 (local-1) answers again"),
                "the continued worker was not asked again\n\(outcome.transcript)")
            #expect(!outcome.stderr.contains(" lost: "), "\(outcome.transcript)")
            let steps = try MetricsFile(path: metrics).steps
            #expect((steps.compactMap { $0.int("backups") }.max() ?? 0) >= 2, "the metrics count no backups")
            let byWorker = steps.compactMap { $0["worker_examples"] as? [String: Any] }
            #expect(byWorker.last?["1"] != nil, "worker 1 computed nothing at the end: \(byWorker.last ?? [:])")
            #expect(try ModelComparison.sameBytes(out, reference), "backup computation changed the weights")
        }

        /// `--shards auto` picks 4 shards a worker when the batch affords 32 examples each, and
        /// trains the bits of that count given explicitly.
        @Test func automaticShardCountIsFourAWorker() async throws {
            let scratch = try ScratchDirectory("shards-auto")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: 256, steps: 10) + ["--local-workers", "2"]
            let auto = scratch.file("auto.safetensors")
            let summary = try await SyntheticTraining.run(common + ["--shards", "auto", "--out", auto], in: scratch)
            #expect(summary.int("shards") == 8, "--shards auto with 2 workers and batch 256: \(summary)")
            let explicit = scratch.file("explicit.safetensors")
            try await SyntheticTraining.run(common + ["--shards", "8", "--out", explicit], in: scratch)
            #expect(try ModelComparison.sameBytes(auto, explicit))
        }
    }
}
