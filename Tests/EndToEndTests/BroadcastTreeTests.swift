import Foundation
import Testing

extension EndToEnd {
    /// The broadcast tree (issue 21): workers started with `--relay` pass each step's parameters
    /// on to each other, so the coordinator sends one copy a step, and the bits do not change —
    /// nor when a relay dies mid-run.
    @Suite("Broadcast tree")
    struct BroadcastTreeTests {
        /// 8 → 256 → 256 → 3: 68,867 parameters, five PARAMS_PART pieces a step, so the pieces
        /// really are passed on one by one.
        static let layers = "8,256,256,3"
        static let parameterBytes = 4 * (8 * 256 + 256 + 256 * 256 + 256 + 256 * 3 + 3)

        private func flags(_ csv: String, steps: Int) -> [String] {
            var common = SyntheticTraining.flags(csv: csv, batch: 64)
            common[common.firstIndex(of: "--layers")! + 1] = Self.layers
            common[common.firstIndex(of: "--steps")! + 1] = String(steps)
            return common + ["--shards", "8", "--lr", "0.05"]
        }

        /// Starts a coordinator waiting for `workers` TCP workers on a free port, and the workers,
        /// each with a relay inbox on a port of its own.
        private func launch(
            _ common: [String], workers: Int, broadcast: String, out: String, metrics: String,
            environment: [String: String] = [:], in scratch: ScratchDirectory, reaper: ProcessReaper
        ) throws -> (coordinator: LaunchedProcess, workers: [String: LaunchedProcess]) {
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", String(workers), "--bind", endpoint, "--broadcast", broadcast,
                        "--worker-timeout", "2", "--out", out, "--metrics", metrics,
                    ], environment: environment, in: scratch))
            var launched: [String: LaunchedProcess] = [:]
            for index in 0..<workers {
                launched["relay-\(index)"] = reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", "relay-\(index)", "--relay", "tcp://127.0.0.1:*"],
                        environment: environment, in: scratch))
            }
            return (coordinator, launched)
        }

        @Test func fourRelayingWorkersCostTheCoordinatorOneParameterVectorAStep() async throws {
            let scratch = try ScratchDirectory("broadcast-tree")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = flags(csv, steps: 12)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            var sent: [String: [Int]] = [:]
            for broadcast in ["tree", "direct"] {
                let out = scratch.file("\(broadcast).safetensors")
                let metrics = scratch.file("\(broadcast).jsonl")
                let (coordinator, _) = try launch(
                    common, workers: 4, broadcast: broadcast, out: out, metrics: metrics, in: scratch, reaper: reaper)
                let outcome = try await coordinator.wait(timeout: .seconds(90))
                try #require(outcome.succeeded, "--broadcast \(broadcast)\n\(outcome.transcript)")
                #expect(
                    try ModelComparison.sameBytes(out, reference), "--broadcast \(broadcast) differs from --in-process")
                sent[broadcast] = try MetricsFile(path: metrics).steps.map { $0.int("bytes_sent") ?? 0 }
            }
            let vectors = { (bytes: Int) in Double(bytes) / Double(Self.parameterBytes) }
            let tree = try #require(sent["tree"])
            let direct = try #require(sent["direct"])
            #expect(tree.count == 12 && direct.count == 12)
            // The step the tree is built, workers placed in it are also sent the parameters whole.
            #expect(
                tree.dropFirst().allSatisfy { vectors($0) >= 1 && vectors($0) <= 2.2 },
                "with the tree the coordinator sent \(tree.map(vectors)) parameter vectors a step")
            #expect(
                direct.allSatisfy { vectors($0) >= 4 }, "sent directly: \(direct.map(vectors)) parameter vectors a step"
            )
        }

        @Test func aRelayKilledMidRunChangesNoBit() async throws {
            let scratch = try ScratchDirectory("broadcast-kill")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 60
            let common = flags(csv, steps: steps)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("killed.safetensors")
            let metrics = scratch.file("killed.jsonl")
            // Every partial held back 20 ms (no bit changes: AnswerOrderTests), so a step lasts long
            // enough to strike in the middle of the run.
            let (coordinator, workers) = try launch(
                common, workers: 4, broadcast: "tree", out: out, metrics: metrics,
                environment: ["DESCENT_FAULTS": "delay@*=20"], in: scratch, reaper: reaper)
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            // Rank 0 is the first worker of the tree: every other worker's parameters pass through it.
            let registered = coordinator.stderrSoFar.split(separator: "\n").first {
                $0.contains("worker 0 registered: ")
            }
            let name = try #require(
                registered.flatMap { $0.components(separatedBy: "registered: ").last?.split(separator: " ").first },
                "no worker 0 in\n\(coordinator.stderrSoFar)")
            let victim = try #require(workers[String(name)], "no process for worker \(name)")
            kill(victim.pid, SIGKILL)
            let stepsBeforeKill = MetricsFile.completedSteps(metrics)

            let outcome = try await coordinator.wait(timeout: .seconds(90))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(stepsBeforeKill < steps, "the relay was killed only after the last step; the test proved nothing")
            #expect(
                outcome.stderrLines.contains { $0.contains("(\(name) at 127.0.0.1) lost") },
                "the coordinator did not log losing the killed relay \(name)\n\(outcome.transcript)")
            #expect(try MetricsFile(path: metrics).steps.count == steps)
            #expect(try ModelComparison.sameBytes(out, reference), "killing a relay changed the weights")
        }

        @Test(arguments: [
            (["--relay", "tcp://*:5600"], "the address other workers reach"),
            (["--relay", "ipc:///tmp/relay"], "tcp://"),
        ])
        func aRelayEndpointOthersCannotReachIsRefused(flags: [String], says: String) async throws {
            let scratch = try ScratchDirectory("relay-flags")
            let outcome = try await LaunchedProcess.run(
                try Binaries.worker(), ["--connect", "tcp://127.0.0.1:9"] + flags, in: scratch,
                timeout: .seconds(20))
            #expect(outcome.failedCleanly && outcome.stderr.contains(says), "\(outcome.transcript)")
        }
    }
}
