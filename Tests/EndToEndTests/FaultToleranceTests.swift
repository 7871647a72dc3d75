import Foundation
import Testing

extension EndToEnd {
    /// DESIGN.md's failure paragraph seen from outside: workers that die, stall, leave or arrive,
    /// and a coordinator that is stopped and resumed, all end in the bits of the undisturbed run.
    ///
    /// Runs that must be disturbed in the middle hold every partial back a little
    /// (`DESCENT_FAULTS=delay@*=MS`, which changes no bit: AnswerOrderTests), and the tests wait
    /// for the metrics file to show steps before they strike, rather than sleeping.
    @Suite("Fault tolerance")
    struct FaultToleranceTests {
        static let batch = 64
        /// Every partial held back 20 ms: a step lasts at least that long.
        static let slow = "delay@*=20"

        // MARK: Lost workers

        @Test func sigkilledWorkerChangesNoBit() async throws {
            let scratch = try ScratchDirectory("kill-worker")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 40
            // 8 shards on 3 workers (0…2, 3…5, 6…7: nodes of the reduction tree and single shards
            // alike); the killed worker's 3…5 move, some with segments in already.
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps) + ["--shards", "8"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("killed.safetensors")
            let metrics = scratch.file("killed.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + ["--local-workers", "3", "--worker-timeout", "2", "--out", out, "--metrics", metrics],
                    environment: ["DESCENT_FAULTS": Self.slow], in: scratch))
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let workers = ProcessTable.workers(of: coordinator.pid)
            try #require(workers.count == 3, "expected 3 local workers:\n\(ProcessTable.describe(workers))")
            let victim = try #require(
                workers.first { $0.arguments.contains("local-1") },
                "no worker named local-1:\n\(ProcessTable.describe(workers))")
            kill(victim.pid, SIGKILL)
            let stepsBeforeKill = MetricsFile.completedSteps(metrics)

            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(stepsBeforeKill < steps, "the worker was killed only after the last step; the test proved nothing")
            #expect(
                outcome.stderrLines.contains { $0.contains("(local-1) lost: its process exited") },
                "the coordinator did not log losing the killed worker local-1\n\(outcome.transcript)")
            try expectEveryStepComplete(metrics, steps: steps)
            let summary = try outcome.summary()
            #expect(summary.int("workers") == 2, "the summary does not count 2 surviving workers: \(summary)")
            let difference = try ModelComparison.relativeDifference(out, reference)
            #expect(
                try ModelComparison.sameBytes(out, reference),
                "SIGKILL of a worker changed the weights (max |Δ|/max|W| = \(difference))")
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        @Test func workerExitingByItselfChangesNoBit() async throws {
            let scratch = try ScratchDirectory("worker-exits")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 20
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps) + ["--shards", "3"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("exit.safetensors")
            let metrics = scratch.file("exit.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    // When the loss shows is under test: steps wait for it (no backup computation).
                    common + [
                        "--local-workers", "3", "--worker-timeout", "2", "--backup-after", "0", "--out", out,
                        "--metrics", metrics,
                    ],
                    environment: ["DESCENT_FAULTS": "exit@1=7"], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("fault injection: exiting at step 7"),
                "the fault was not applied\n\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("worker 1 (") && $0.contains("lost: its process exited") },
                "the coordinator did not log losing worker 1\n\(outcome.transcript)")
            try expectEveryStepComplete(metrics, steps: steps)
            let lines = try MetricsFile(path: metrics).steps
            for line in lines {
                let step = line.int("step") ?? 0
                // The loss happens during step 7; the step that reports it already counts 2.
                let expected = step < 7 ? 3 : 2
                #expect(
                    line.int("workers") == expected,
                    "step \(step): workers \(line["workers"] ?? "missing"), expected \(expected)")
            }
            #expect(try ModelComparison.sameBytes(out, reference), "a worker exiting at step 7 changed the weights")
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        /// Every step line of `metrics` counts the whole global batch (the epoch's rest on its last step).
        private func expectEveryStepComplete(
            _ metrics: String, steps: Int, sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            let lines = try MetricsFile(path: metrics).steps
            #expect(
                lines.count == steps, "\(lines.count) step lines, expected \(steps)", sourceLocation: sourceLocation)
            for (index, line) in lines.enumerated() {
                let expected = SyntheticTraining.expectedExamples(step: index + 1, batch: Self.batch)
                #expect(
                    line.int("step") == index + 1, "line \(index + 1) is step \(line["step"] ?? "missing")",
                    sourceLocation: sourceLocation)
                #expect(
                    line.int("examples") == expected,
                    "step \(index + 1): examples \(line["examples"] ?? "missing"), expected \(expected)",
                    sourceLocation: sourceLocation)
            }
        }

        // MARK: Coordinator interrupted and resumed

        /// SIGTERM mid-run, resume, same bits; then the resume's two failure modes: a damaged
        /// newest checkpoint (skipped for the one before) and a checkpoint of another run.
        @Test func inProcessRunResumesAfterSIGTERM() async throws {
            let scratch = try ScratchDirectory("resume-in-process")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            // Wide layers and full batch: ~10 ms a step in-process, so the run can be caught mid-way.
            let steps = 120
            let flags = [
                "train", "--dataset", "csv:\(csv)", "--layers", "8,256,256,3", "--lr", "0.05", "--seed", "7",
                "--steps", String(steps), "--batch", "0", "--in-process",
            ]
            let checkpoints = scratch.file("checkpoints")
            let reference = try await interruptAndResume(
                flags, steps: steps, environment: [:], checkpoints: checkpoints, in: scratch, reaper: reaper)

            // A damaged newest checkpoint is skipped for the one before it.
            let damagedDirectory = scratch.file("damaged")
            try FileManager.default.copyItem(atPath: scratch.file("checkpoints-at-interrupt"), toPath: damagedDirectory)
            let files = CheckpointFiles.list(damagedDirectory)
            try #require(files.count >= 2, "need two checkpoints to fall back on, have \(files)")
            try CheckpointFiles.damageData(files.last!)
            let previousStep = try CheckpointFiles.step(files[files.count - 2])
            let fromPrevious = scratch.file("from-previous.safetensors")
            let resumed = try await Descent.coordinator(
                flags + ["--resume", damagedDirectory, "--checkpoint-every", "5", "--out", fromPrevious], in: scratch)
            try #require(resumed.succeeded, "\(resumed.transcript)")
            #expect(
                resumed.stderr.contains("skipping checkpoint \(files.last!)"),
                "the resume did not log skipping the damaged \(files.last!)\n\(resumed.transcript)")
            #expect(
                resumed.stderrLines.contains {
                    $0.hasSuffix("resumed from \(damagedDirectory) at step \(previousStep)")
                },
                "the resume did not continue from the previous checkpoint (step \(previousStep))\n\(resumed.transcript)"
            )
            #expect(
                try ModelComparison.sameBytes(fromPrevious, reference),
                "resuming from the checkpoint before a damaged one changed the weights")

            // A checkpoint of another run is refused, naming what differs.
            for (flag, value, key) in [("--seed", "8", "seed"), ("--batch", "64", "batch")] {
                var other = flags
                other[other.firstIndex(of: flag)! + 1] = value
                let out = scratch.file("other-\(key).safetensors")
                let refused = try await Descent.coordinator(
                    other + ["--resume", checkpoints, "--out", out], in: scratch)
                #expect(
                    refused.failedCleanly,
                    "resuming a \(flag) \(value) run from another run's checkpoint did not fail\n\(refused.transcript)")
                let reason = refused.stderrLines.last ?? ""
                #expect(
                    reason.contains("\(key)="),
                    "the reason does not name the mismatching key \(key)\n\(refused.transcript)")
                #expect(!FileManager.default.fileExists(atPath: out), "a refused resume wrote --out")
            }
        }

        @Test func localWorkersRunResumesAfterSIGTERM() async throws {
            let scratch = try ScratchDirectory("resume-local")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 60
            // 8 shards, 4 a worker: each sends one node of the reduction tree.
            let flags =
                SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps) + [
                    "--local-workers", "2", "--shards", "8",
                ]
            try await interruptAndResume(
                flags, steps: steps, environment: ["DESCENT_FAULTS": Self.slow],
                checkpoints: scratch.file("checkpoints"),
                in: scratch, reaper: reaper)
        }

        /// Runs `flags` undisturbed, then with checkpoints every 5 steps and SIGTERM after 12,
        /// then resumes; returns the undisturbed run's --out. The checkpoint directory as the
        /// interrupted run left it is kept beside it, as `checkpoints-at-interrupt`.
        @discardableResult
        private func interruptAndResume(
            _ flags: [String], steps: Int, environment: [String: String], checkpoints: String,
            in scratch: ScratchDirectory,
            reaper: ProcessReaper, sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> String {
            let reference = scratch.file("uninterrupted.safetensors")
            try await SyntheticTraining.run(flags + ["--out", reference], in: scratch, sourceLocation: sourceLocation)

            let checkpointing = ["--checkpoint-dir", checkpoints, "--checkpoint-every", "5"]
            let interruptedOut = scratch.file("interrupted.safetensors")
            let metrics = scratch.file("interrupted.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    flags + checkpointing + ["--out", interruptedOut, "--metrics", metrics], environment: environment,
                    in: scratch))
            let training = await MetricsFile.waitForSteps(12, in: metrics, of: coordinator)
            try #require(
                training, "the run never reached step 12\n\(ProcessOutcome.tail(coordinator.stderrSoFar))",
                sourceLocation: sourceLocation)
            coordinator.send(SIGTERM)
            let stopped = try await coordinator.wait(timeout: .seconds(30))
            #expect(
                stopped.exited && stopped.status == 143,
                "expected exit status 143 after SIGTERM\n\(stopped.transcript)", sourceLocation: sourceLocation)
            let leftovers = ProcessTable.workers(of: stopped.pid)
            #expect(
                leftovers.isEmpty, "workers outlived the interrupted coordinator:\n\(ProcessTable.describe(leftovers))",
                sourceLocation: sourceLocation)
            let files = CheckpointFiles.list(checkpoints)
            let newest = try #require(
                files.last, "SIGTERM left no checkpoint in \(checkpoints)", sourceLocation: sourceLocation)
            let stoppedAt = try CheckpointFiles.step(newest)
            #expect(
                stoppedAt >= 12 && stoppedAt < steps, "the newest checkpoint is of step \(stoppedAt)",
                sourceLocation: sourceLocation)
            #expect(try CheckpointFiles.nonFiniteTensors(newest).isEmpty, sourceLocation: sourceLocation)
            // --out holds the model of the same step, and the summary says the run was interrupted.
            #expect(
                try CheckpointFiles.step(interruptedOut) == stoppedAt, "--out is not the model of the last step",
                sourceLocation: sourceLocation)
            #expect(
                try stopped.summary().string("status") == "interrupted", "\(stopped.transcript)",
                sourceLocation: sourceLocation)
            try FileManager.default.copyItem(atPath: checkpoints, toPath: scratch.file("checkpoints-at-interrupt"))

            let resumedOut = scratch.file("resumed.safetensors")
            let resumedMetrics = scratch.file("resumed.jsonl")
            let resumed = try await Descent.launchCoordinator(
                flags + checkpointing + ["--resume", checkpoints, "--out", resumedOut, "--metrics", resumedMetrics],
                in: scratch
            )
            .wait(timeout: .seconds(60))
            try #require(resumed.succeeded, "\(resumed.transcript)", sourceLocation: sourceLocation)
            #expect(
                resumed.stderrLines.contains { $0.hasSuffix("resumed from \(checkpoints) at step \(stoppedAt)") },
                "\(resumed.transcript)", sourceLocation: sourceLocation)
            let lines = try MetricsFile(path: resumedMetrics).steps
            #expect(
                lines.first?.int("step") == stoppedAt + 1 && lines.count == steps - stoppedAt,
                "the resumed run's metrics do not cover steps \(stoppedAt + 1)…\(steps)", sourceLocation: sourceLocation
            )
            let difference = try ModelComparison.relativeDifference(resumedOut, reference)
            #expect(
                try ModelComparison.sameBytes(resumedOut, reference),
                "the resumed run differs from the uninterrupted one (max |Δ|/max|W| = \(difference))",
                sourceLocation: sourceLocation)
            let resumedLeftovers = ProcessTable.workers(of: resumed.pid)
            #expect(
                resumedLeftovers.isEmpty,
                "workers outlived the resumed coordinator:\n\(ProcessTable.describe(resumedLeftovers))",
                sourceLocation: sourceLocation)
            return reference
        }

        // MARK: Membership changes

        @Test func lateJoinerTakesShardsAndChangesNoBit() async throws {
            let scratch = try ScratchDirectory("late-joiner")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: 80) + ["--shards", "4"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("joined.safetensors")
            let metrics = scratch.file("joined.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", "2", "--bind", endpoint, "--register-timeout", "30", "--out", out, "--metrics",
                        metrics,
                    ], in: scratch))
            func worker(_ name: String) throws -> LaunchedProcess {
                reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", name, "--register-timeout", "30"],
                        environment: ["DESCENT_FAULTS": Self.slow], in: scratch))
            }
            let first = [try worker("w-first-0"), try worker("w-first-1")]
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let joiner = try worker("w-late")

            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let joined = outcome.stderrLines.first { $0.contains("(w-late at 127.0.0.1) joined with shard(s)") }
            #expect(joined != nil, "the coordinator did not log w-late joining\n\(outcome.transcript)")
            #expect(joined?.hasSuffix("[]") == false, "w-late joined but took no shard: \(joined ?? "")")
            let counts = try MetricsFile(path: metrics).steps.compactMap { $0.int("workers") }
            #expect(counts.first == 2 && counts.max() == 3, "the metrics' workers never went from 2 to 3: \(counts)")
            // Per-worker example counts: after joining, three ranks computed parts of one step.
            let perWorker = try MetricsFile(path: metrics).steps.compactMap { $0["worker_examples"] as? [String: Any] }
            #expect(perWorker.first?.count == 2, "the first step's worker_examples: \(perWorker.first ?? [:])")
            #expect(
                perWorker.contains { $0.count == 3 && $0.values.allSatisfy { (($0 as? NSNumber)?.intValue ?? 0) > 0 } },
                "no step shows three workers each computing examples")
            #expect(try ModelComparison.sameBytes(out, reference), "a late joiner changed the weights")
            for worker in first + [joiner] {
                let ended = try await worker.wait(timeout: .seconds(20))
                #expect(ended.succeeded, "a worker did not leave cleanly after the run\n\(ended.transcript)")
            }
        }

        @Test func stalledWorkerIsLostAndKilled() async throws {
            let scratch = try ScratchDirectory("stall")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch) + ["--shards", "3"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let workerTimeout = 2.0
            let out = scratch.file("stall.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    // The loss is under test: no backup computation (if it were on by default) lets the run
                    // finish before it.
                    common + [
                        "--local-workers", "3", "--worker-timeout", String(workerTimeout), "--backup-after", "0",
                        "--out", out,
                    ],
                    environment: ["DESCENT_FAULTS": "stall@0=5"], in: scratch))
            var stalled: ProcessTable.Entry?
            let stopped = await Poll.until(timeout: .seconds(30)) {
                stalled = ProcessTable.workers(of: coordinator.pid).first { $0.state == "T" }
                return stalled != nil || !coordinator.isRunning
            }
            #expect(
                stopped && stalled != nil,
                "no worker was ever seen stopped (SIGSTOP)\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")

            let outcome = try await coordinator.wait(timeout: .seconds(90))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.seconds < workerTimeout + 30,
                "the run took \(outcome.seconds) s with --worker-timeout \(workerTimeout)")
            let losses = outcome.stderrLines.filter { $0.contains(" lost: ") }
            #expect(
                losses.contains { $0.contains("worker 0 ") && $0.contains("silent") },
                "the coordinator did not log losing the stalled worker 0\n\(outcome.transcript)")
            // Only the stopped worker fell silent; the others kept beating while they waited.
            #expect(losses.count == 1, "healthy workers were declared lost too:\n\(losses.joined(separator: "\n"))")
            #expect(try outcome.summary().int("workers") == 2, "the summary does not count the 2 healthy workers")
            #expect(try ModelComparison.sameBytes(out, reference), "a stalled worker changed the weights")
            if let stalled {
                #expect(
                    ProcessTable.entry(stalled.pid)?.isAlive != true,
                    "the stopped worker (pid \(stalled.pid)) outlived the coordinator")
            }
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        /// A worker on this machine that falls behind — stopped between two steps, past
        /// `--worker-timeout`, then let go — finds the shared parameters already holding a later
        /// step: it skips the step it was late for, rather than taking it for a protocol violation,
        /// rejoins, and the run's bits are the undisturbed run's.
        @Test func aLateLocalWorkerSkipsTheStepItMissed() async throws {
            let scratch = try ScratchDirectory("late-ipc")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: 150) + ["--shards", "2"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "ipc://\(scratch.file("coordinator.sock"))"
            let out = scratch.file("late.safetensors")
            let metrics = scratch.file("late.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", "2", "--bind", endpoint, "--worker-timeout", "1", "--min-workers", "1",
                        "--log-level", "debug",
                        "--out", out, "--metrics", metrics,
                    ],
                    in: scratch))
            let faults = ["DESCENT_FAULTS": "stall@0=5," + Self.slow]
            let workers = try (0..<2).map { index in
                reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", "late-\(index)", "--log-level", "debug"], environment: faults,
                        in: scratch))
            }
            var stopped: LaunchedProcess?
            let sawStop = await Poll.until(timeout: .seconds(30)) {
                stopped = workers.first { ProcessTable.entry($0.pid)?.state == "T" }
                return stopped != nil || !coordinator.isRunning
            }
            let late = try #require(
                sawStop ? stopped : nil,
                "no worker was ever seen stopped (SIGSTOP)\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let lost = await Poll.until(timeout: .seconds(30)) {
                coordinator.stderrSoFar.contains(" lost: ") || !coordinator.isRunning
            }
            #expect(
                lost && coordinator.isRunning,
                "the coordinator never gave up on the stopped worker\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            // Once the run is past step 6, the shared parameters no longer hold step 5's.
            let movedOn = await MetricsFile.waitForSteps(8, in: metrics, of: coordinator)
            try #require(
                movedOn, "the run never went past the stopped worker\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            late.send(SIGCONT)
            let skipped = await Poll.until(timeout: .seconds(30)) {
                late.stderrSoFar.contains("skipped: its parameters in shared memory") || !late.isRunning
            }
            #expect(
                skipped, "the late worker did not skip the step it missed\n\(ProcessOutcome.tail(late.stderrSoFar))")

            let outcome = try await coordinator.wait(timeout: .seconds(90))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let ended = try await late.wait(timeout: .seconds(30))
            #expect(
                ended.succeeded && !ended.stderr.contains("protocol"),
                "the late worker did not carry on\n\(ended.transcript)")
            #expect(ended.stderr.contains("skipped: its parameters in shared memory"), "\(ended.transcript)")
            #expect(
                outcome.stderr.contains("computes from the shared parameters"),
                "the workers did not read shared parameters\n\(outcome.transcript)")
            #expect(try ModelComparison.sameBytes(out, reference), "a late worker changed the weights")
        }

        // MARK: Coordinator lost

        @Test func workerGivesUpOnAKilledCoordinator() async throws {
            let scratch = try ScratchDirectory("coordinator-killed")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let metrics = scratch.file("metrics.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: 500)
                        + [
                            "--workers", "1", "--bind", endpoint, "--out", scratch.file("out.safetensors"), "--metrics",
                            metrics,
                        ],
                    in: scratch))
            let reconnectTimeout = 4.0
            let worker = reaper.track(
                try Descent.launchWorker(
                    ["--connect", endpoint, "--name", "w-orphan", "--reconnect-timeout", String(reconnectTimeout)],
                    environment: ["DESCENT_FAULTS": Self.slow], in: scratch))
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")

            coordinator.send(SIGKILL)
            let killed = ContinuousClock.now
            _ = try await coordinator.wait(timeout: .seconds(10))
            let outcome = try await worker.wait(timeout: .seconds(30))
            let seconds = (ContinuousClock.now - killed).seconds
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                seconds < reconnectTimeout + 3,
                "the worker took \(seconds) s to give up with --reconnect-timeout \(reconnectTimeout)")
            let reason = outcome.stderrLines.last?.lowercased() ?? ""
            #expect(
                reason.contains("lost the coordinator"),
                "the worker's reason does not say it lost the coordinator\n\(outcome.transcript)")
        }

        /// A coordinator killed outright (checkpoints every 5 steps) and started again with
        /// --resume on the same port: the worker that was training rejoins on its own.
        @Test func workerRejoinsACoordinatorRestartedAfterSIGKILL() async throws {
            try await restartCoordinator(with: SIGKILL, label: "restart-kill")
        }

        /// The same after SIGTERM, which also leaves a checkpoint of the step it stopped at.
        @Test func workerRejoinsACoordinatorRestartedAfterSIGTERM() async throws {
            try await restartCoordinator(with: SIGTERM, label: "restart-term")
        }

        /// The same over ipc://, with a network wide enough (8-4096-3) that its parameters and
        /// layer 1's gradient travel through shared memory: the rejoining worker gives up the
        /// region the killed coordinator had mapped and offers the new one a fresh region.
        @Test func workerRejoinsARestartedCoordinatorOverIPCWithSharedMemory() async throws {
            try await restartCoordinator(with: SIGKILL, label: "restart-ipc", overIPC: true)
        }

        private func restartCoordinator(
            with signalNumber: Int32, label: String, overIPC: Bool = false,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            let scratch = try ScratchDirectory(label)
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 100
            let common =
                SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps)
                + (overIPC ? ["--layers", "8,4096,3"] : [])
            let reference = scratch.file("uninterrupted.safetensors")
            try await SyntheticTraining.run(
                common + ["--in-process", "--out", reference], in: scratch, sourceLocation: sourceLocation)

            let endpoint =
                overIPC ? "ipc://\(scratch.file("coordinator.sock"))" : "tcp://127.0.0.1:\(try FreePort.next())"
            let checkpoints = scratch.file("checkpoints")
            let distributed =
                common + [
                    "--workers", "1", "--bind", endpoint, "--register-timeout", "20", "--log-level", "debug",
                    "--checkpoint-dir", checkpoints, "--checkpoint-every", "5",
                ]
            let out = scratch.file("out.safetensors")
            let metrics = scratch.file("first.jsonl")
            let first = reaper.track(
                try Descent.launchCoordinator(distributed + ["--out", out, "--metrics", metrics], in: scratch))
            // The worker starts saying hello again after 5 s of silence; 20 s leaves room to rejoin.
            let worker = reaper.track(
                try Descent.launchWorker(
                    ["--connect", endpoint, "--name", "w-stays", "--reconnect-timeout", "20"],
                    environment: ["DESCENT_FAULTS": Self.slow], in: scratch))
            let training = await MetricsFile.waitForSteps(12, in: metrics, of: first)
            try #require(
                training, "the run never reached step 12\n\(ProcessOutcome.tail(first.stderrSoFar))",
                sourceLocation: sourceLocation)
            first.send(signalNumber)
            let stopped = try await first.wait(timeout: .seconds(20))
            #expect(
                !stopped.succeeded, "the coordinator finished before the signal; the test proved nothing",
                sourceLocation: sourceLocation)
            #expect(
                !CheckpointFiles.list(checkpoints).isEmpty, "no checkpoint to resume from",
                sourceLocation: sourceLocation)

            let left = await Poll.until(timeout: .seconds(1)) { !worker.isRunning }
            if left {
                let ended = try await worker.wait(timeout: .seconds(5))
                Issue.record(
                    "the worker exited when the coordinator stopped (signal \(signalNumber)), so it cannot rejoin the resumed run\n\(ended.transcript)",
                    sourceLocation: sourceLocation)
                return
            }

            let resumedOut = scratch.file("resumed.safetensors")
            let second = reaper.track(
                try Descent.launchCoordinator(
                    distributed + [
                        "--resume", checkpoints, "--out", resumedOut, "--metrics", scratch.file("second.jsonl"),
                    ], in: scratch))
            let resumed = try await second.wait(timeout: .seconds(60))
            try #require(resumed.succeeded, "\(resumed.transcript)", sourceLocation: sourceLocation)
            #expect(
                resumed.stderr.contains("registered: w-stays"),
                "the restarted coordinator did not log w-stays registering\n\(resumed.transcript)",
                sourceLocation: sourceLocation)
            #expect(
                resumed.stderr.contains("resumed from \(checkpoints)"), "\(resumed.transcript)",
                sourceLocation: sourceLocation)
            #expect(
                try ModelComparison.sameBytes(resumedOut, reference),
                "the resumed run differs from the uninterrupted one", sourceLocation: sourceLocation)
            let ended = try await worker.wait(timeout: .seconds(20))
            #expect(ended.succeeded, "\(ended.transcript)", sourceLocation: sourceLocation)
            #expect(
                ended.stderr.contains("welcomed this worker anew"),
                "the worker did not start a new session\n\(ended.transcript)", sourceLocation: sourceLocation)
            if overIPC {
                #expect(
                    resumed.stderr.contains("large frames go through shared memory"),
                    "the restarted coordinator did not share memory with the worker\n\(resumed.transcript)",
                    sourceLocation: sourceLocation)
            }
        }

        // MARK: Too few workers

        @Test func belowMinWorkersTheRunCheckpointsAndStops() async throws {
            let scratch = try ScratchDirectory("min-workers")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 1000
            let registerTimeout = 3.0
            let checkpoints = scratch.file("checkpoints")
            let out = scratch.file("out.safetensors")
            let metrics = scratch.file("metrics.jsonl")
            // 10 ms a partial: 1000 steps would take 10 s, far past the 3 s wait for a joiner.
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps)
                        + [
                            "--local-workers", "2", "--min-workers", "2", "--register-timeout", String(registerTimeout),
                            "--checkpoint-dir", checkpoints, "--out", out, "--metrics", metrics,
                        ],
                    environment: ["DESCENT_FAULTS": "exit@0=5,delay@*=10"], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.seconds < registerTimeout + 15,
                "took \(outcome.seconds) s to give up with --register-timeout \(registerTimeout)")
            let reason = outcome.stderrLines.last ?? ""
            #expect(
                reason.contains("--min-workers"), "the reason does not mention --min-workers\n\(outcome.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out), "a run stopped short wrote --out")
            let newest = try #require(
                CheckpointFiles.list(checkpoints).last, "no checkpoint was written when the run stopped")
            let step = try CheckpointFiles.step(newest)
            #expect(step >= 5 && step < steps, "the checkpoint is of step \(step)")
            #expect(
                step == MetricsFile.completedSteps(metrics),
                "the checkpoint (step \(step)) is not of the last step the metrics show")
            #expect(try CheckpointFiles.nonFiniteTensors(newest).isEmpty)
            // The model of that step is kept beside --out too, and the summary says so.
            let incomplete = scratch.file("out.incomplete.safetensors")
            #expect(try CheckpointFiles.step(incomplete) == step)
            let summary = try outcome.summary()
            #expect(
                summary.string("status") == "failed" && summary.string("out") == incomplete, "\(outcome.transcript)")
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }
    }
}
