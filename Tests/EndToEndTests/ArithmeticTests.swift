import Core
import Foundation
import Testing

extension EndToEnd {
    /// Issue 19 from outside: processes that would compute with different BLAS kernels (simulated
    /// per process with `OPENBLAS_CORETYPE`, as another host's OpenBLAS would choose) or with
    /// glibc's other elementary-function path (`GLIBC_TUNABLES`) give the bits of `--in-process`.
    ///
    /// A worker started with `OPENBLAS_CORETYPE=K` and `DESCENT_BLAS_KERNEL=K` is a host whose
    /// OpenBLAS picked K by itself (Descent may switch it); without the marker the variable is a
    /// setting made on purpose, which Descent never overrides. Where the test's own environment
    /// sets `OPENBLAS_CORETYPE` or `OPENBLAS_L2_SIZE`, these tests skip and leave them alone.
    @Suite("Same bits on any CPU", .enabled(if: SimulatedHosts.possible, SimulatedHosts.skipReason))
    struct ArithmeticTests {
        static func flags(_ csv: String, steps: Int = 30) -> [String] {
            SyntheticTraining.flags(csv: csv, batch: 64, steps: steps) + ["--activation", "tanh", "--shards", "3"]
        }

        @Test func workersOnOtherKernelsAndLibmPathsComputeTheRunsBits() async throws {
            let scratch = try ScratchDirectory("mixed-kernels")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(Self.flags(csv) + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("mixed.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    Self.flags(csv) + ["--workers", "3", "--bind", endpoint, "--out", out], in: scratch))
            let hosts = [
                SimulatedHosts.host("Sandybridge", withoutFMA: true), SimulatedHosts.host("Prescott"),
                SimulatedHosts.host(nil, withoutFMA: true),
            ]
            let workers = try hosts.enumerated().map { index, env in
                reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", "host-\(index)", "--register-timeout", "30"],
                        environment: env, in: scratch))
            }
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            for name in ["host-0", "host-1"] {
                #expect(
                    outcome.stderrLines.contains { $0.contains("worker \(name)") && $0.contains("asked to switch") },
                    "\(name) was never asked to switch kernel\n\(outcome.transcript)")
            }
            let difference = try ModelComparison.relativeDifference(out, reference)
            #expect(
                try ModelComparison.sameTensors(out, reference),
                "workers started on other kernels changed the weights (max |Δ|/max|W| = \(difference))")
            for worker in workers {
                let ended = try await worker.wait(timeout: .seconds(20))
                #expect(ended.succeeded, "\(ended.transcript)")
            }
        }

        @Test func aShardMovesToAJoinerOfAnotherKernelWithoutChangingABit() async throws {
            let scratch = try ScratchDirectory("kernel-joiner")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 80
            let common = Self.flags(csv, steps: steps)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("moved.safetensors")
            let metrics = scratch.file("moved.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    // The loss is under test: without backup computation the run waits for it.
                    common + [
                        "--workers", "2", "--bind", endpoint, "--worker-timeout", "2", "--backup-after", "0", "--out",
                        out, "--metrics", metrics,
                    ], in: scratch))
            func worker(_ name: String, _ kernel: String?) throws -> LaunchedProcess {
                var env = SimulatedHosts.host(kernel)
                env["DESCENT_FAULTS"] = "delay@*=20"
                return reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", name, "--register-timeout", "30"], environment: env,
                        in: scratch))
            }
            let victim = try worker("victim", nil)
            _ = try worker("sandy", "Sandybridge")
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            _ = try worker("late", "Prescott")
            let joined = await coordinator.poll(timeout: .seconds(30)) {
                coordinator.stderrSoFar.contains("(late at 127.0.0.1) joined")
            }
            try #require(joined, "the joiner never joined\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            victim.send(SIGKILL)
            let stepsBeforeKill = MetricsFile.completedSteps(metrics)

            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(stepsBeforeKill < steps, "the worker was killed after the last step; the test proved nothing")
            #expect(
                outcome.stderrLines.contains { $0.contains("(victim at 127.0.0.1) lost") },
                "the coordinator did not lose the killed worker\n\(outcome.transcript)")
            #expect(
                try ModelComparison.sameTensors(out, reference),
                "a joiner of another kernel adopting a killed worker's shard changed the weights")
        }

        @Test func aWorkerPinnedToAnotherKernelIsRefusedAndTheRunCarriesOn() async throws {
            let scratch = try ScratchDirectory("pinned-worker")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(Self.flags(csv) + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("out.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    Self.flags(csv) + ["--workers", "2", "--bind", endpoint, "--register-timeout", "30", "--out", out],
                    in: scratch))
            let arguments = ["--connect", endpoint, "--register-timeout", "30"]
            let pinned = reaper.track(
                try Descent.launchWorker(
                    arguments + ["--name", "pinned"], environment: ["OPENBLAS_CORETYPE": "Sandybridge"], in: scratch))
            let refused = try await pinned.wait(timeout: .seconds(30))
            #expect(refused.failedCleanly, "\(refused.transcript)")
            let reason = refused.stderrLines.last ?? ""
            for part in ["refused", "OPENBLAS_CORETYPE=Sandybridge", "kernel Sandybridge", "--blas-kernel Sandybridge"]
            {
                #expect(reason.contains(part), "the worker's error does not say '\(part)': \(reason)")
            }
            let good = try (0..<2).map { index in
                reaper.track(try Descent.launchWorker(arguments + ["--name", "good-\(index)"], in: scratch))
            }
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("refused worker pinned") && $0.contains("Fix:") },
                "the coordinator did not log the refusal with its fix\n\(outcome.transcript)")
            #expect(try ModelComparison.sameTensors(out, reference), "the refused worker disturbed the others' bits")
            for worker in good { #expect(try await worker.wait(timeout: .seconds(20)).succeeded) }
        }

        @Test func allowMixedArithmeticAdmitsThePinnedWorkerAndSaysTheRunIsNotReproducible() async throws {
            let scratch = try ScratchDirectory("mixed-allowed")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("mixed.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    Self.flags(csv) + [
                        "--workers", "2", "--allow-mixed-arithmetic", "--bind", endpoint, "--out", out,
                    ], in: scratch))
            let arguments = ["--connect", endpoint, "--register-timeout", "30"]
            _ = reaper.track(
                try Descent.launchWorker(
                    arguments + ["--name", "pinned"], environment: ["OPENBLAS_CORETYPE": "Sandybridge"], in: scratch))
            _ = reaper.track(try Descent.launchWorker(arguments + ["--name", "plain"], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("warning") && $0.contains("not bit-reproducible") },
                "no warning that the run is not bit-reproducible\n\(outcome.transcript)")
            let inspected = try await Descent.coordinator(["inspect", out], in: scratch)
            #expect(inspected.stdout.contains("bit_reproducible=false"), "\(inspected.stdout)")
            #expect(inspected.stdout.contains("mixed_arithmetic_workers=pinned"), "\(inspected.stdout)")
        }

        @Test func autoReplacesAFallbackKernelAndTheModelSaysWhich() async throws {
            let scratch = try ScratchDirectory("fallback-kernel")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let best = try #require(BLASKernel.bestTier(for: SimulatedHosts.features).first).name
            // An OpenBLAS that does not know this CPU and fell back to Prescott.
            let fallback = SimulatedHosts.host("Prescott")
            let out = scratch.file("auto.safetensors")
            let outcome = try await Descent.launchCoordinator(
                Self.flags(csv) + ["--local-workers", "2", "--out", out], environment: fallback, in: scratch
            ).wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let line = outcome.stderrLines.first { $0.contains("info") && $0.contains("BLAS kernel \(best)") }
            #expect(
                line?.contains("OpenBLAS chose Prescott, a fallback") == true,
                "no info line says the fallback was replaced by \(best)\n\(outcome.transcript)")
            let named = scratch.file("named.safetensors")
            try await SyntheticTraining.run(
                Self.flags(csv) + ["--in-process", "--blas-kernel", best, "--out", named], in: scratch)
            #expect(
                try ModelComparison.sameTensors(out, named), "auto's \(best) run differs from --blas-kernel \(best)")

            let inspected = try await Descent.coordinator(["inspect", out], in: scratch)
            try #require(inspected.succeeded, "\(inspected.transcript)")
            for key in ["blas_kernel=\(best)", "blas_threads=1", "bit_reproducible=true", "cpu_architecture=x86_64"] {
                #expect(inspected.stdout.contains(key), "inspect does not show \(key):\n\(inspected.stdout)")
            }
        }

        @Test func resumeOnAnotherKernelTakesTheCheckpointsKernel() async throws {
            let scratch = try ScratchDirectory("resume-kernel")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let checkpoints = scratch.file("checkpoints")
            let first = Self.flags(csv, steps: 10) + ["--in-process", "--blas-kernel", "Sandybridge"]
            try await SyntheticTraining.run(
                first + ["--checkpoint-dir", checkpoints, "--checkpoint-every", "10", "--out", scratch.file("a.st")],
                in: scratch)
            let resumed = scratch.file("resumed.safetensors")
            let outcome = try await Descent.launchCoordinator(
                Self.flags(csv, steps: 20) + ["--in-process", "--resume", checkpoints, "--out", resumed], in: scratch
            ).wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains {
                    $0.contains("BLAS kernel Sandybridge") && $0.contains("computed with it")
                },
                "the resumed run did not take the checkpoint's kernel\n\(outcome.transcript)")
            let straight = scratch.file("straight.safetensors")
            let summary = try await SyntheticTraining.run(
                Self.flags(csv, steps: 20) + [
                    "--in-process", "--blas-kernel", "Sandybridge", "--test-dataset", "csv:\(csv)", "--out", straight,
                ], in: scratch)
            #expect(try ModelComparison.sameTensors(resumed, straight), "the resumed run is not the uninterrupted one")
            // evaluate takes the model's kernel too: the training's test loss, to the bit.
            let evaluated = try await Descent.coordinator(
                ["evaluate", "--model", straight, "--dataset", "csv:\(csv)"], in: scratch)
            try #require(evaluated.succeeded, "\(evaluated.transcript)")
            let testLoss = try #require(summary["test_loss"] as? NSNumber).doubleValue
            let field = evaluated.stdout.split(separator: " ").first { $0.hasPrefix("loss=") }
            let loss = try #require(field.flatMap { Double($0.dropFirst(5)) }, "\(evaluated.stdout)")
            // The summary prints 16 significant digits; another kernel moves the loss far more.
            #expect(
                abs(loss - testLoss) <= 1e-15 * testLoss,
                "evaluate's loss \(loss) is not the training's \(testLoss): \(evaluated.stdout)")

            let pinned = try await Descent.launchCoordinator(
                Self.flags(csv, steps: 20) + ["--in-process", "--resume", checkpoints, "--out", resumed],
                environment: ["OPENBLAS_CORETYPE": "Prescott"], in: scratch
            ).wait(timeout: .seconds(60))
            try #require(pinned.succeeded, "\(pinned.transcript)")
            #expect(
                pinned.stderrLines.contains { $0.contains("warning") && $0.contains("will not be bit-identical") },
                "a resume that cannot take the checkpoint's kernel did not say so\n\(pinned.transcript)")
        }
    }
}

/// Other hosts, simulated per process on this one.
enum SimulatedHosts {
    static let environment = ProcessInfo.processInfo.environment
    static let features = CPUFeatures.current
    /// Kernels other than the run's that this CPU runs, whose bits differ from it (AVX without
    /// FMA, and SSE3): the test of alignment is only as strong as these differences.
    static let otherKernels = ["Sandybridge", "Prescott"]
    static var possible: Bool {
        environment["OPENBLAS_CORETYPE"] == nil && environment["OPENBLAS_L2_SIZE"] == nil
            && otherKernels.allSatisfy { BLASKernel.named($0)!.runs(on: features) }
            && BLASKernel.bestTier(for: features).count > 0
    }
    static let skipReason: Comment =
        "needs an x86-64 CPU with AVX and no inherited OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (never overridden)"

    /// A host whose OpenBLAS chose `kernel`, optionally with glibc's non-FMA paths.
    static func host(_ kernel: String?, withoutFMA: Bool = false) -> [String: String] {
        var env: [String: String] = [:]
        if let kernel { env = ["OPENBLAS_CORETYPE": kernel, "DESCENT_BLAS_KERNEL": kernel] }
        if withoutFMA, environment["GLIBC_TUNABLES"] == nil { env["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-FMA" }
        return env
    }
}
