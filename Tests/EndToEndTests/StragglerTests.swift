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
    }
}
