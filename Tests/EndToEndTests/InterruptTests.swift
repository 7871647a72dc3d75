import Foundation
import Testing

extension EndToEnd {
    /// Ctrl-C in the middle of distributed training: a prompt non-zero exit that keeps
    /// the model of the last finished step in --out (and a checkpoint where there is a directory
    /// for one), stops every worker — local or connected by itself — and ends stdout with a
    /// summary whose status is `interrupted`.
    @Suite("SIGINT during training")
    struct InterruptTests {
        @Test func sigintKeepsTheModelAndStopsTheWorkers() async throws {
            let scratch = try ScratchDirectory("sigint")
            let out = scratch.file("out.safetensors")
            let metrics = scratch.file("metrics.jsonl")
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--local-workers", "2", "--dataset", "fashion-mnist", "--epochs", "50", "--out", out,
                    "--metrics", metrics,
                ],
                in: scratch)

            try await Self.waitForFiveSteps(coordinator, metrics: metrics)
            let workers = ProcessTable.workers(of: coordinator.pid)
            #expect(
                workers.count == 2,
                "expected the coordinator's 2 workers before SIGINT:\n\(ProcessTable.describe(workers))")

            let signalled = ContinuousClock.now
            coordinator.send(SIGINT)
            let outcome = try await coordinator.wait(timeout: .seconds(20))
            let exitSeconds = (ContinuousClock.now - signalled).seconds
            #expect(outcome.failedCleanly, "expected a non-zero exit, not death by signal\n\(outcome.transcript)")
            #expect(exitSeconds < 5, "took \(exitSeconds) s to exit after SIGINT")
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(
                leftovers.isEmpty, "workers outlived the interrupted coordinator:\n\(ProcessTable.describe(leftovers))")
            try Self.expectKeptModel(outcome, out: out)
            let reason = outcome.stderrLines.last?.lowercased() ?? ""
            #expect(
                reason.contains("interrupt") || reason.contains("signal"),
                "the last stderr line does not say why it stopped\n\(outcome.transcript)")
        }

        /// Workers that connected themselves are told to leave too, although a checkpoint makes
        /// the run resumable: Ctrl-C is a person stopping the run. (SIGTERM, how schedulers stop
        /// what they restart, leaves them waiting for the restarted coordinator.)
        @Test func ctrlCWithACheckpointDirectoryTellsConnectedWorkersToLeave() async throws {
            let scratch = try ScratchDirectory("sigint-tcp")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let out = scratch.file("out.safetensors")
            let metrics = scratch.file("metrics.jsonl")
            let checkpoints = scratch.file("checkpoints")
            let port = try FreePort.next()
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--workers", "2", "--bind", "tcp://127.0.0.1:\(port)", "--dataset", "csv:\(csv)",
                    "--layers", "8,64,3", "--batch", "16", "--steps", "1000000", "--out", out, "--metrics", metrics,
                    "--checkpoint-dir", checkpoints,
                ], in: scratch)
            let workers = try (0..<2).map { _ in
                try Descent.launchWorker(["--connect", "tcp://127.0.0.1:\(port)"], in: scratch)
            }
            defer { for worker in workers where worker.isRunning { worker.send(SIGKILL) } }
            try await Self.waitForFiveSteps(coordinator, metrics: metrics)
            coordinator.send(SIGINT)
            let outcome = try await coordinator.wait(timeout: .seconds(20))
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            let step = try Self.expectKeptModel(outcome, out: out)
            let newest = try #require(CheckpointFiles.list(checkpoints).last, "no checkpoint\n\(outcome.transcript)")
            #expect(try CheckpointFiles.step(newest) == step)
            for worker in workers {
                let left = try await worker.wait(timeout: .seconds(10))
                #expect(left.exited, "a worker did not leave when told to\n\(left.transcript)")
            }
        }

        static func waitForFiveSteps(_ coordinator: LaunchedProcess, metrics: String) async throws {
            let training = await coordinator.poll(timeout: .seconds(90)) {
                !coordinator.isRunning || MetricsFile.completedSteps(metrics) >= 5
            }
            try #require(
                training && coordinator.isRunning,
                "training never got to 5 steps\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
        }

        /// --out holds the model of the step the summary names; the summary says `interrupted`.
        @discardableResult
        static func expectKeptModel(_ outcome: ProcessOutcome, out: String) throws -> Int {
            let summary = try outcome.summary()
            #expect(summary.string("status") == "interrupted", "\(outcome.transcript)")
            #expect(summary.string("out") == out, "\(outcome.transcript)")
            let steps = try #require(summary.int("steps"), "\(outcome.transcript)")
            #expect(steps >= 5)
            #expect(try CheckpointFiles.step(out) == steps, "--out is not the model of the last step")
            #expect(try CheckpointFiles.nonFiniteTensors(out).isEmpty)
            return steps
        }
    }
}
