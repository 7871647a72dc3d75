import Foundation
import Testing

extension EndToEnd {
    /// The contract's default run — 784-256-128-10 relu, sgd, batch 128, lr 0.1, 5 epochs — on
    /// Fashion-MNIST: it learns, it repeats to the bit, it reports every step and evaluation, and
    /// the distributed path gives the reference path's bits.
    @Suite("Fashion-MNIST with the default settings")
    struct FashionMNISTTests {
        static let minimumAccuracy = 0.845
        static let stepsPerEpoch = 469 // ⌈60000 / 128⌉
        static let lastStepExamples = 60000 - 468 * 128 // 96

        @Test func inProcessLearnsAndRepeatsToTheBit() async throws {
            let scratch = try ScratchDirectory("fmnist")
            var outputs: [String] = []
            for run in 1...2 {
                let out = scratch.file("run\(run).safetensors")
                let metrics = scratch.file("run\(run).jsonl")
                let outcome = try await Descent.coordinator(
                    [
                        "train", "--in-process", "--dataset", "fashion-mnist", "--epochs", "5", "--out", out,
                        "--metrics", metrics,
                    ],
                    in: scratch, timeout: .seconds(120))
                try #require(outcome.succeeded, "\(outcome.transcript)")
                let summary = try outcome.summary()
                let accuracy = try #require(summary.double("test_accuracy"), "no test_accuracy in the summary")
                #expect(accuracy >= Self.minimumAccuracy)
                #expect(summary.int("steps") == 5 * Self.stepsPerEpoch)
                #expect(summary.int("workers") == 1)
                for key in ["final_loss", "examples_per_s", "wall_s"] {
                    #expect(summary.double(key) != nil, "the summary lacks \(key): \(summary)")
                }
                try Self.checkMetrics(
                    metrics, workers: 1, finalAccuracy: accuracy, wallSeconds: summary.double("wall_s") ?? -1)
                outputs.append(out)
            }
            #expect(
                try ModelComparison.sameBytes(outputs[0], outputs[1]),
                "two runs with the same seed wrote different weights")
        }

        /// The README's job (scripts/train-fashion-mnist runs this recipe with 2 local workers):
        /// Adam with a cosine schedule for 10 epochs reaches 89% test accuracy.
        @Test func theREADMERecipeReaches89Percent() async throws {
            let scratch = try ScratchDirectory("fmnist-recipe")
            let outcome = try await Descent.coordinator(
                [
                    "train", "--local-workers", "2", "--config", DeployFiles.path("local/fashion-mnist.yaml"), "--out",
                    scratch.file("recipe.safetensors"),
                ],
                in: scratch, timeout: .seconds(300))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let summary = try outcome.summary()
            #expect(summary.string("status") == "completed")
            #expect(summary.int("steps") == 10 * Self.stepsPerEpoch)
            let accuracy = try #require(summary.double("test_accuracy"), "no test_accuracy: \(summary)")
            #expect(accuracy >= 0.89, "the README's recipe reached \(accuracy)")
        }

        /// `--local-workers 2` over a private socket, taking spans of steps among themselves (the
        /// default) or every step through messages: the accuracy, the reference path's exact bits
        /// (`--in-process --shards 2`), and no worker left behind.
        @Test(arguments: [true, false])
        func twoLocalWorkersLearnMatchTheReferenceAndLeaveNoWorker(localSteps: Bool) async throws {
            let scratch = try ScratchDirectory("fmnist-2w-\(localSteps)")
            let out = scratch.file("distributed.safetensors")
            let metrics = scratch.file("distributed.jsonl")
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--local-workers", "2", "--dataset", "fashion-mnist", "--epochs", "5", "--out", out,
                    "--metrics", metrics, localSteps ? "--local-steps" : "--no-local-steps",
                ],
                in: scratch)
            let sawWorkers = await coordinator.poll(timeout: .seconds(60)) {
                ProcessTable.workers(of: coordinator.pid).count == 2 || !coordinator.isRunning
            }
            #expect(sawWorkers && coordinator.isRunning, "never saw the coordinator's 2 workers running")
            // With CPUs enough, each local worker is pinned to one CPU of its own.
            if Self.allowedCPUs(of: getpid()).count >= 2 {
                let pinned = ProcessTable.workers(of: coordinator.pid).map { Self.allowedCPUs(of: $0.pid) }
                #expect(
                    pinned.count == 2 && pinned.allSatisfy { $0.count == 1 } && Set(pinned).count == 2,
                    "the local workers are not pinned one to a CPU: \(pinned)")
            }
            // Local workers offer shared memory, and the coordinator maps both regions: the step's
            // large frames go through them (and the weights below still match to the byte).
            let sharing = await coordinator.poll(timeout: .seconds(60)) {
                Self.sharedRegions(mappedBy: coordinator.pid) == 2 || !coordinator.isRunning
            }
            #expect(sharing, "the coordinator did not map its 2 local workers' shared memory")
            // …and each worker maps the coordinator's parameters, and computes from them there.
            let reading = await coordinator.poll(timeout: .seconds(60)) {
                let workers = ProcessTable.workers(of: coordinator.pid)
                return (workers.count == 2 && workers.allSatisfy { Self.mapsParameterBoard($0.pid) })
                    || !coordinator.isRunning
            }
            #expect(reading, "the local workers did not map the coordinator's shared parameters")
            let outcome = try await coordinator.wait(timeout: .seconds(180))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(
                leftovers.isEmpty,
                "workers still running after the coordinator exited:\n\(ProcessTable.describe(leftovers))")

            let summary = try outcome.summary()
            let accuracy = try #require(summary.double("test_accuracy"), "no test_accuracy in the summary")
            #expect(accuracy >= Self.minimumAccuracy)
            #expect(summary.int("workers") == 2)
            try Self.checkMetrics(
                metrics, workers: 2, finalAccuracy: accuracy, wallSeconds: summary.double("wall_s") ?? -1)
            let steps = try MetricsFile(path: metrics).steps
            let received = steps.reduce(0) { $0 + ($1.int("bytes_received") ?? 0) }
            let shared = steps.reduce(0) { $0 + ($1.int("bytes_received_shared") ?? 0) }
            if localSteps {
                // Every step in the step area: no gradient crossed to the coordinator.
                #expect(received == 0, "\(received) gradient bytes received in steps the workers took themselves")
                #expect(
                    outcome.stderrLines.contains { $0.contains("local workers step among themselves") },
                    "\(outcome.transcript)")
            } else {
                // The gradient segments came through the rings, which hold a whole gradient: a ring
                // that turned frames away (they then quietly take the socket) would show here. Only
                // small frames — heartbeats, STEP — keep to the socket.
                #expect(
                    received > 0 && Double(shared) >= 0.9 * Double(received),
                    "only \(shared) of \(received) bytes received came through shared memory")
            }

            let reference = scratch.file("reference.safetensors")
            let inProcess = try await Descent.coordinator(
                [
                    "train", "--in-process", "--shards", "2", "--dataset", "fashion-mnist", "--epochs", "5", "--out",
                    reference,
                ],
                in: scratch, timeout: .seconds(120))
            try #require(inProcess.succeeded, "\(inProcess.transcript)")
            #expect(
                try ModelComparison.sameBytes(out, reference),
                "--local-workers 2 and --in-process --shards 2 wrote different weights")
        }

        /// How many workers' frame regions (`/memfd:descent-frames`) a process has mapped.
        static func sharedRegions(mappedBy pid: Int32) -> Int {
            guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return 0 }
            return Set(
                maps.split(separator: "\n").filter { $0.contains("/memfd:descent-frames") }.map {
                    $0.split(separator: " ")[4]
                }
            ).count
        }

        /// Whether a process maps a coordinator's shared parameters (`/memfd:descent-params`).
        static func mapsParameterBoard(_ pid: Int32) -> Bool {
            guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return false }
            return maps.contains("/memfd:descent-params")
        }

        /// The CPUs a process may run on, from /proc/PID/status's `Cpus_allowed_list` ("0-1,4").
        static func allowedCPUs(of pid: Int32) -> [Int] {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
            else { return [] }
            return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
                .split(separator: ",").flatMap { range -> [Int] in
                    let bounds = range.split(separator: "-").compactMap { Int($0) }
                    return bounds.count == 2 ? Array(bounds[0]...bounds[1]) : bounds
                }
        }

        /// One step line per step — 128 examples, 96 in the last step of each epoch — and one
        /// evaluation per epoch, the last agreeing with the summary, each stamped with its time
        /// from the run's start (rising, within the summary's `wallSeconds`).
        static func checkMetrics(
            _ path: String, workers: Int, finalAccuracy: Double, wallSeconds: Double,
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            let metrics = try MetricsFile(path: path)
            #expect(metrics.steps.count == 5 * stepsPerEpoch, sourceLocation: sourceLocation)
            var problems: [String] = []
            for (index, line) in metrics.steps.enumerated() {
                let step = index + 1
                let examples = step % stepsPerEpoch == 0 ? lastStepExamples : 128
                let loss = line.double("loss") ?? .nan
                if line.int("step") != step { problems.append("line \(step): step \(line["step"] ?? "missing")") }
                if line.int("epoch") != index / stepsPerEpoch + 1 {
                    problems.append("step \(step): epoch \(line["epoch"] ?? "missing")")
                }
                if line.int("examples") != examples {
                    problems.append("step \(step): examples \(line["examples"] ?? "missing"), expected \(examples)")
                }
                if line.int("workers") != workers {
                    problems.append("step \(step): workers \(line["workers"] ?? "missing")")
                }
                if !(loss.isFinite && loss > 0) { problems.append("step \(step): loss \(line["loss"] ?? "missing")") }
                if !((line.double("examples_per_s") ?? 0) > 0) {
                    problems.append("step \(step): examples_per_s \(line["examples_per_s"] ?? "missing")")
                }
                // The slowest partial's compute: the one there is, or between the mean and the sum
                // of several.
                let compute = line.double("compute_s") ?? -1
                let slowest = line.double("compute_slowest_s") ?? -1
                let plausible =
                    workers == 1
                    ? slowest > 0 && slowest == compute
                    : slowest < compute && slowest * Double(workers) >= compute * (1 - 1e-12)
                if !plausible {
                    problems.append(
                        "step \(step): compute_slowest_s \(line["compute_slowest_s"] ?? "missing") against compute_s \(compute)"
                    )
                }
            }
            #expect(
                problems.isEmpty, "\(problems.count) bad step lines, first: \(problems.prefix(5))",
                sourceLocation: sourceLocation)

            #expect(metrics.evaluations.map { $0.int("epoch") } == [1, 2, 3, 4, 5], sourceLocation: sourceLocation)
            for evaluation in metrics.evaluations {
                let accuracy = evaluation.double("test_accuracy") ?? -1
                let loss = evaluation.double("test_loss") ?? .nan
                #expect(
                    (0...1).contains(accuracy) && loss.isFinite && loss > 0, "bad eval line \(evaluation)",
                    sourceLocation: sourceLocation)
            }
            #expect(metrics.evaluations.last?.double("test_accuracy") == finalAccuracy, sourceLocation: sourceLocation)
            let stamps = metrics.evaluations.map { $0.double("wall_s") ?? -1 }
            #expect(
                stamps.first.map { $0 > 0 } == true && zip(stamps, stamps.dropFirst()).allSatisfy { $0 < $1 }
                    && (stamps.last ?? .infinity) <= wallSeconds,
                "eval wall_s \(stamps), the run's \(wallSeconds)", sourceLocation: sourceLocation)
        }
    }
}
