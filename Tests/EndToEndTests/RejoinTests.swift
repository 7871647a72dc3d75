import Foundation
import Testing

extension EndToEnd {
    /// Registration that holds: a worker that waits or knocks is one worker. A coordinator killed
    /// outright and restarted after any gap finds its two knocking workers (each knocks once a
    /// second after 5 s of silence, and what it sent while nobody listened arrives at once), and
    /// the resumed run has the bits of an uninterrupted one.
    @Suite("rejoin after a coordinator restart")
    struct RejoinTests {
        static let batch = 64

        @Test(arguments: [2, 12, 30])
        func twoWorkersRejoinARestartedCoordinatorAfterAGap(seconds gap: Int) async throws {
            let scratch = try ScratchDirectory("rejoin-\(gap)")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 60
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps) + ["--shards", "4"]
            let reference = scratch.file("uninterrupted.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let checkpoints = scratch.file("checkpoints")
            let distributed =
                common + [
                    "--workers", "2", "--bind", endpoint, "--register-timeout", "30", "--checkpoint-dir", checkpoints,
                    "--checkpoint-every", "5",
                ]
            let metrics = scratch.file("first.jsonl")
            let first = reaper.track(
                try Descent.launchCoordinator(
                    distributed + ["--out", scratch.file("first.safetensors"), "--metrics", metrics], in: scratch))
            let workers = try ["w-a", "w-b"].map { name in
                reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", name, "--reconnect-timeout", "60"],
                        environment: ["DESCENT_FAULTS": "delay@*=20"], in: scratch))
            }
            try #require(
                await MetricsFile.waitForSteps(12, in: metrics, of: first),
                "the run never reached step 12\n\(ProcessOutcome.tail(first.stderrSoFar))")
            first.send(SIGKILL)
            _ = try await first.wait(timeout: .seconds(10))
            try await Task.sleep(for: .seconds(gap))
            for worker in workers { try #require(worker.isRunning, "a worker gave up within \(gap) s") }

            let resumedOut = scratch.file("resumed.safetensors")
            let resumed = try await reaper.track(
                try Descent.launchCoordinator(
                    distributed + ["--resume", checkpoints, "--out", resumedOut], in: scratch)
            ).wait(timeout: .seconds(90))
            try #require(resumed.succeeded, "\(resumed.transcript)")
            let registrations = resumed.stderrLines.filter { $0.contains("registered: w-") }
            #expect(
                registrations.count == 2,
                "one registration per worker, not \(registrations.count):\n\(resumed.transcript)")
            #expect(!resumed.stderr.contains(" lost: "), "a worker was lost\n\(resumed.transcript)")
            #expect(
                try ModelComparison.sameBytes(resumedOut, reference),
                "the resumed run differs from the uninterrupted one")
            for worker in workers {
                let ended = try await worker.wait(timeout: .seconds(20))
                #expect(ended.succeeded, "\(ended.transcript)")
            }
        }

        /// While it waits for its second worker, the coordinator says whom it waits for and keeps
        /// the first one: no "lost", no second rank, the bits of the in-process run.
        @Test func theFirstWorkerWaitsWithTheCoordinatorForTheSecond() async throws {
            let scratch = try ScratchDirectory("rejoin-wait")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: 10) + ["--shards", "2"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("out.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + ["--workers", "2", "--bind", endpoint, "--register-timeout", "60", "--out", out],
                    in: scratch))
            let early = reaper.track(try Descent.launchWorker(["--connect", endpoint, "--name", "early"], in: scratch))
            // Past the 5 s after which a worker that hears nothing knocks again, and past one
            // "waiting for" notice.
            let noticed = await coordinator.poll(timeout: .seconds(30)) {
                coordinator.stderrSoFar.contains("waiting for 1 more worker(s) of 2") || !coordinator.isRunning
            }
            try #require(noticed && coordinator.isRunning, "no notice of whom it waits for\n\(coordinator.stderrSoFar)")
            try await Task.sleep(for: .seconds(4))
            let late = reaper.track(try Descent.launchWorker(["--connect", endpoint, "--name", "late"], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            #expect(outcome.succeeded, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("registered: early"), "\(outcome.transcript)")
            #expect(!outcome.stderr.contains(" lost: "), "\(outcome.transcript)")
            #expect(!outcome.stderr.contains("worker 2 "), "a third rank was handed out\n\(outcome.transcript)")
            #expect(try ModelComparison.sameBytes(out, reference))
            for worker in [early, late] { #expect(try await worker.wait(timeout: .seconds(20)).succeeded) }
        }
    }
}
