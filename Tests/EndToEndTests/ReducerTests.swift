import Foundation
import Testing

extension EndToEnd {
    /// `--reducers S` (issue 21) seen from outside: ranges of the parameters summed and updated by
    /// reducer processes give the bits of one process, each reducer takes its share of the
    /// gradient bytes, a lost worker changes no bit, and a lost reducer stops the run with a
    /// checkpoint that resumes it to the same bits.
    @Suite("Reducers by parameter range")
    struct ReducerTests {
        static let batch = 64
        /// 8-64-64-3: 4,931 values, so that each range's share of the bytes is clear of headers.
        static let layers = "8,64,64,3"
        static let gradientBytes = 4 * (8 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3)

        static func flags(csv: String, optimizer: String, steps: Int = SyntheticTraining.steps) -> [String] {
            var flags = SyntheticTraining.flags(csv: csv, batch: batch, steps: steps)
            flags[flags.firstIndex(of: "--layers")! + 1] = layers
            flags[flags.firstIndex(of: "--lr")! + 1] = optimizer == "adam" ? "0.01" : "0.2"
            return flags + ["--shards", "8", "--optimizer", optimizer]
        }

        /// 1–3 workers (aligned and unaligned placements) and 2–3 reducers write the in-process
        /// bits with sgd and adam; each reducer, and the coordinator for range 0, take about 1/S of
        /// the workers' gradient bytes.
        @Test(arguments: ["sgd", "adam"])
        func reducersGiveTheBitsOfOneProcess(optimizer: String) async throws {
            let scratch = try ScratchDirectory("reducers-\(optimizer)")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = Self.flags(csv: csv, optimizer: optimizer)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            // Vectors a step: one per node of the tree a worker's shards fill (3 workers hold shards
            // 0…2, 3…5, 6…7: nodes 0–1, 2, 3, 4–5, 6–7).
            // The last two: the reducers send the workers their ranges of W, b themselves.
            let runs = [
                (1, 2, 1, false), (2, 2, 2, false), (3, 2, 5, false), (2, 3, 2, false), (2, 2, 2, true),
                (3, 3, 5, true),
            ]
            for (workers, reducers, vectors, broadcast) in runs {
                let name =
                    "--local-workers \(workers) --reducers \(reducers)\(broadcast ? " --broadcast reducers" : "")"
                let out = scratch.file("w\(workers)-r\(reducers)-\(broadcast).safetensors")
                let metrics = scratch.file("w\(workers)-r\(reducers)-\(broadcast).jsonl")
                let summary = try await SyntheticTraining.run(
                    common + [
                        "--local-workers", String(workers), "--reducers", String(reducers), "--out", out,
                        "--metrics", metrics,
                    ] + (broadcast ? ["--broadcast", "reducers"] : []), in: scratch)
                #expect(summary.int("workers") == workers)
                let difference = try ModelComparison.relativeDifference(out, reference)
                #expect(
                    try ModelComparison.sameBytes(out, reference),
                    "\(name) differs from --in-process (max |Δ|/max|W| = \(difference))")
                let steps = try MetricsFile(path: metrics).steps
                #expect(steps.count == SyntheticTraining.steps)
                // Before placement by speed first moves a shard, each worker sends its vectors, cut
                // into the S ranges.
                for line in steps.prefix(while: { $0.int("shard_moves") == 0 }) {
                    let shares = line.ints("reducer_bytes_received")
                    let total = shares.reduce(0, +)
                    #expect(
                        shares.count == reducers && total == vectors * Self.gradientBytes,
                        "\(name), step \(line["step"] ?? "?"): reducer_bytes_received \(shares), a gradient is \(Self.gradientBytes)"
                    )
                    for share in shares {
                        let fraction = Double(share) / Double(max(total, 1))
                        #expect(
                            abs(fraction - 1 / Double(reducers)) < 0.02,
                            "\(name): a range took \(share) of \(total) bytes")
                    }
                    // Beyond its range's gradients the coordinator takes the reducers' new values,
                    // unless they go to the workers; then only small messages.
                    let beyond = (line.int("bytes_received") ?? 0) - (shares.first ?? 0)
                    let values = Self.gradientBytes - Self.gradientBytes / reducers
                    #expect(
                        broadcast ? beyond < 2_048 : beyond >= values,
                        "\(name), step \(line["step"] ?? "?"): the coordinator received \(beyond) bytes beyond its range's gradients"
                    )
                }
            }
        }

        /// An epoch's last step of one example leaves 7 of 8 shards with none: their (empty)
        /// pieces still complete a reducer's step.
        @Test func shardsWithNoExamplesInAStepStillCount() async throws {
            let scratch = try ScratchDirectory("reducers-empty-shards")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            var common = Self.flags(csv: csv, optimizer: "adam", steps: 12)
            common[common.firstIndex(of: "--batch")! + 1] = "100"
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)
            let out = scratch.file("reducers.safetensors")
            try await SyntheticTraining.run(
                common + ["--local-workers", "2", "--reducers", "2", "--out", out, "--worker-timeout", "5"], in: scratch
            )
            #expect(try ModelComparison.sameBytes(out, reference), "--reducers 2 differs from --in-process")
        }

        /// A worker killed mid-run: its shards move, some with pieces in at a reducer already, and
        /// the weights are the in-process bits.
        @Test(arguments: [false, true])
        func aKilledWorkerChangesNoBitWithReducers(broadcast: Bool) async throws {
            let scratch = try ScratchDirectory("reducers-kill-worker-\(broadcast)")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 40
            let common = Self.flags(csv: csv, optimizer: "adam", steps: steps)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("killed.safetensors")
            let metrics = scratch.file("killed.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--local-workers", "3", "--reducers", "2", "--worker-timeout", "2", "--out", out, "--metrics",
                        metrics,
                    ] + (broadcast ? ["--broadcast", "reducers"] : []),
                    environment: ["DESCENT_FAULTS": "delay@*=20"], in: scratch))
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let processes = ProcessTable.workers(of: coordinator.pid)
            let victim = try #require(
                processes.first { $0.arguments.contains("local-1") },
                "no worker named local-1:\n\(ProcessTable.describe(processes))")
            kill(victim.pid, SIGKILL)
            let stepsBeforeKill = MetricsFile.completedSteps(metrics)
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(stepsBeforeKill < steps, "the worker was killed only after the last step; the test proved nothing")
            #expect(
                outcome.stderrLines.contains { $0.contains("(local-1) lost: its process exited") },
                "the coordinator did not log losing local-1\n\(outcome.transcript)")
            let difference = try ModelComparison.relativeDifference(out, reference)
            #expect(
                try ModelComparison.sameBytes(out, reference),
                "SIGKILL of a worker changed the weights with reducers (max |Δ|/max|W| = \(difference))")
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "processes outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        /// `--broadcast reducers` leaves the coordinator without the reducers' ranges of W, b: a
        /// worker stopped mid-run has its shards computed by the coordinator, which fetches them
        /// first; continued, the worker catches up. The bits are the in-process ones.
        @Test func theCoordinatorFetchesTheParametersBeforeItComputesAShard() async throws {
            let scratch = try ScratchDirectory("reducers-backup")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = Self.flags(csv: csv, optimizer: "adam", steps: 100)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("backup.safetensors")
            let metrics = scratch.file("backup.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--local-workers", "2", "--reducers", "2", "--broadcast", "reducers", "--worker-timeout", "60",
                        "--backup-after", "0.25", "--out", out, "--metrics", metrics,
                    ], environment: ["DESCENT_FAULTS": "stall@1=5,delay@*=20"], in: scratch))
            let backedUp = await coordinator.poll(timeout: .seconds(30)) {
                coordinator.stderrSoFar.contains("the coordinator computed its shard(s)")
            }
            try #require(backedUp, "no backup computation\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let computedAlone = await MetricsFile.waitForSteps(12, in: metrics, of: coordinator)
            #expect(computedAlone, "the run did not go on without the stopped worker")
            for process in ProcessTable.workers(of: coordinator.pid) where process.state == "T" {
                kill(process.pid, SIGCONT)
            }
            let outcome = try await coordinator.wait(timeout: .seconds(90))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let steps = try MetricsFile(path: metrics).steps
            #expect((steps.compactMap { $0.int("backups") }.max() ?? 0) >= 2, "the metrics count no backups")
            let difference = try ModelComparison.relativeDifference(out, reference)
            #expect(
                try ModelComparison.sameBytes(out, reference),
                "shards computed by the coordinator changed the weights (max |Δ|/max|W| = \(difference))")
        }

        /// A reducer killed mid-run takes its range's moments and half-summed step with it: the
        /// run stops, naming it, writes no checkpoint it cannot make whole, and `--resume` from the
        /// last checkpoint it wrote ends in the bits of the undisturbed run.
        @Test(arguments: [false, true])
        func aKilledReducerStopsTheRunAndItsLastCheckpointResumesIt(broadcast: Bool) async throws {
            let scratch = try ScratchDirectory("reducers-kill-reducer-\(broadcast)")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 60
            let flags =
                Self.flags(csv: csv, optimizer: "adam", steps: steps) + [
                    "--local-workers", "2", "--reducers", "2",
                ] + (broadcast ? ["--broadcast", "reducers"] : [])
            let reference = scratch.file("undisturbed.safetensors")
            try await SyntheticTraining.run(flags + ["--out", reference], in: scratch)

            let checkpoints = scratch.file("checkpoints")
            let checkpointing = ["--checkpoint-dir", checkpoints, "--checkpoint-every", "5"]
            let metrics = scratch.file("killed.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    flags + checkpointing + ["--out", scratch.file("killed.safetensors"), "--metrics", metrics],
                    environment: ["DESCENT_FAULTS": "delay@*=20"], in: scratch))
            let training = await MetricsFile.waitForSteps(12, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 12\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            let processes = ProcessTable.workers(of: coordinator.pid)
            let reducer = try #require(
                processes.first { $0.arguments.contains("local-reducer-1") },
                "no reducer named local-reducer-1:\n\(ProcessTable.describe(processes))")
            kill(reducer.pid, SIGKILL)
            let stopped = try await coordinator.wait(timeout: .seconds(30))
            #expect(stopped.exited && stopped.status != 0, "the run went on without its reducer\n\(stopped.transcript)")
            #expect(
                stopped.stderrLines.contains { $0.contains("reducer 1 (local-reducer-1) lost: its process exited") },
                "the coordinator did not name the lost reducer\n\(stopped.transcript)")
            #expect(try stopped.summary().string("status") == "failed", "\(stopped.transcript)")
            let leftovers = ProcessTable.workers(of: stopped.pid)
            #expect(leftovers.isEmpty, "processes outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
            // Only the periodic checkpoints: the stop could not gather the lost range's moments.
            let files = CheckpointFiles.list(checkpoints)
            let newest = try #require(files.last, "no checkpoint in \(checkpoints)\n\(stopped.transcript)")
            let stoppedAt = try CheckpointFiles.step(newest)
            #expect(stoppedAt >= 10 && stoppedAt % 5 == 0, "the newest checkpoint is of step \(stoppedAt)")
            #expect(
                stopped.stderrLines.contains {
                    ($0.contains("could not be written") || $0.contains("cannot be put together"))
                        && $0.contains("--resume")
                },
                "the coordinator did not say which checkpoint to resume from\n\(stopped.transcript)")

            let resumedOut = scratch.file("resumed.safetensors")
            let resumed = try await Descent.launchCoordinator(
                flags + checkpointing + ["--resume", checkpoints, "--out", resumedOut], in: scratch
            ).wait(timeout: .seconds(60))
            try #require(resumed.succeeded, "\(resumed.transcript)")
            #expect(
                resumed.stderrLines.contains { $0.hasSuffix("resumed from \(checkpoints) at step \(stoppedAt)") },
                "\(resumed.transcript)")
            let difference = try ModelComparison.relativeDifference(resumedOut, reference)
            #expect(
                try ModelComparison.sameBytes(resumedOut, reference),
                "the resumed run differs from the undisturbed one (max |Δ|/max|W| = \(difference))")
        }

        /// A cluster as a user starts it, over CURVE: two workers and a reducer started by hand
        /// register with the coordinator; the workers reach the reducer over CURVE with the key it
        /// announced; the weights are the in-process bits.
        @Test func aReducerStartedByHandWorksOverCurve() async throws {
            let scratch = try ScratchDirectory("reducers-curve")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let keys = try scratch.directory("keys")
            let authorized = try scratch.directory("authorized")
            let coordinatorKeys = try await SecurityTests.keygen("coordinator", in: keys, scratch: scratch)
            var peers: [String: (secret: String, public: String)] = [:]
            for name in ["w1", "w2", "r1"] {
                peers[name] = try await SecurityTests.keygen(name, in: keys, scratch: scratch)
                try FileManager.default.copyItem(
                    atPath: peers[name]!.public, toPath: (authorized as NSString).appendingPathComponent("\(name).pub"))
            }
            let common = Self.flags(csv: csv, optimizer: "adam")
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("curve.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", "2", "--reducers", "2", "--bind", endpoint, "--curve-secret-key",
                        coordinatorKeys.secret, "--authorized-keys", authorized, "--register-timeout", "30", "--out",
                        out,
                    ], in: scratch))
            for (name, extra) in [("w1", []), ("w2", []), ("r1", ["--reduce-at", "tcp://127.0.0.1:*"])] {
                reaper.track(
                    try Descent.launchWorker(
                        [
                            "--connect", endpoint, "--name", name, "--curve-secret-key", peers[name]!.secret,
                            "--server-public-key", coordinatorKeys.public, "--register-timeout", "20",
                        ] + extra, in: scratch))
            }
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("reducer 1 registered: r1 at 127.0.0.1") },
                "the reducer did not register\n\(outcome.transcript)")
            #expect(
                try ModelComparison.sameBytes(out, reference), "the CURVE run with a reducer differs from --in-process")
        }

        /// A reducer that connects to a run without reducers is refused, not taken for a worker
        /// (which would be sent shards it never confirms), and the run goes on.
        @Test func aReducerIsRefusedByARunWithoutReducers() async throws {
            let scratch = try ScratchDirectory("reducers-unwanted")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    Self.flags(csv: csv, optimizer: "sgd", steps: 200) + [
                        "--workers", "1", "--bind", endpoint, "--register-timeout", "30", "--out",
                        scratch.file("out.safetensors"),
                    ], in: scratch))
            let reducer = reaper.track(
                try Descent.launchWorker(
                    [
                        "--connect", endpoint, "--name", "r1", "--reduce-at", "tcp://127.0.0.1:*", "--register-timeout",
                        "20",
                    ],
                    in: scratch))
            let refused = try await reducer.wait(timeout: .seconds(30))
            #expect(
                refused.exited && refused.status != 0 && refused.stderr.contains("this run has no reducers"),
                "the reducer was not refused\n\(refused.transcript)")
            reaper.track(
                try Descent.launchWorker(
                    ["--connect", endpoint, "--name", "w1", "--register-timeout", "20"], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("refused reducer r1"), "\(outcome.transcript)")
            #expect(!outcome.stderr.contains("worker 0 registered: r1"), "the reducer was taken for a worker")
        }

        @Test func reducersRefuseWhatTheyCannotDo() async throws {
            let scratch = try ScratchDirectory("reducers-refusals")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = Self.flags(csv: csv, optimizer: "sgd")
            for (flags, says) in [
                (["--in-process", "--reducers", "2"], "--in-process has one"),
                (["--local-workers", "2", "--reducers", "2", "--compress", "fp16"], "16-bit partials"),
                (["--local-workers", "2", "--reducers", "0"], "--reducers must be between 1 and 64"),
            ] {
                let outcome = try await Descent.launchCoordinator(common + flags, in: scratch).wait(
                    timeout: .seconds(30))
                #expect(
                    outcome.exited && outcome.status != 0 && outcome.stderr.contains(says),
                    "\(flags): expected a refusal saying '\(says)'\n\(outcome.transcript)")
            }
        }
    }
}
