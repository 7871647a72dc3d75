import Foundation
import Testing

extension EndToEnd {
    /// Ctrl-C in the middle of distributed training: a prompt non-zero exit that stops the
    /// workers and writes no weights.
    @Suite("SIGINT during training")
    struct InterruptTests {
        @Test func sigintStopsTrainingAndItsWorkers() async throws {
            let scratch = try ScratchDirectory("sigint")
            let out = scratch.file("out.safetensors")
            let metrics = scratch.file("metrics.jsonl")
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--local-workers", "2", "--dataset", "fashion-mnist", "--epochs", "50", "--out", out,
                    "--metrics", metrics,
                ],
                in: scratch)

            let training = await coordinator.poll(timeout: .seconds(90)) {
                !coordinator.isRunning
                    || ((try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 5
            }
            try #require(
                training && coordinator.isRunning,
                "training never got to 5 steps\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
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
            #expect(!FileManager.default.fileExists(atPath: out), "an interrupted run wrote --out")
            let reason = outcome.stderrLines.last?.lowercased() ?? ""
            #expect(
                reason.contains("interrupt") || reason.contains("signal"),
                "the last stderr line does not say why it stopped\n\(outcome.transcript)")
        }
    }
}
