import Core
import Foundation
import Testing

extension EndToEnd {
    /// DESIGN.md's fifth invariant — nothing from the network is trusted — and the CURVE layer
    /// around it: keys, who may join, exposed binds, hostile and broken peers, and divergence.
    @Suite("Security and untrusted input")
    struct SecurityTests {
        static let batch = 64
        static let z85 = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

        /// `coordinator keygen --out directory --name name`, which must succeed.
        @discardableResult
        static func keygen(
            _ name: String, in directory: String, scratch: ScratchDirectory,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> (secret: String, public: String) {
            let outcome = try await Descent.coordinator(["keygen", "--out", directory, "--name", name], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)", sourceLocation: sourceLocation)
            return (
                (directory as NSString).appendingPathComponent("\(name).key"),
                (directory as NSString).appendingPathComponent("\(name).pub")
            )
        }

        static func key(in path: String) throws -> String {
            try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        static func permissions(of path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }

        // MARK: Keys

        @Test func keygenWritesAPrivateSecretKeyAndKeepsExistingOnes() async throws {
            let scratch = try ScratchDirectory("keygen")
            let directory = scratch.file("keys") // keygen creates it
            let (secret, publicKey) = try await Self.keygen("node", in: directory, scratch: scratch)
            let mode = try Self.permissions(of: secret)
            #expect(mode == 0o600, "\(secret) has mode \(String(mode, radix: 8)), expected 600")
            for path in [secret, publicKey] {
                let text = try Self.key(in: path)
                #expect(
                    text.count == 40 && text.allSatisfy(Self.z85.contains),
                    "\(path) does not hold a 40-character Z85 key: \(text)")
            }
            #expect(try Self.key(in: secret) != Self.key(in: publicKey))

            let before = try [secret, publicKey].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
            let again = try await Descent.coordinator(["keygen", "--out", directory, "--name", "node"], in: scratch)
            #expect(again.failedCleanly, "keygen overwrote existing keys without --force\n\(again.transcript)")
            #expect(again.stderr.contains("--force"), "the refusal does not mention --force\n\(again.transcript)")
            let after = try [secret, publicKey].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
            #expect(after == before, "a refused keygen changed the key files")
            #expect(try Self.permissions(of: secret) == 0o600)

            let forced = try await Descent.coordinator(
                ["keygen", "--out", directory, "--name", "node", "--force"], in: scratch)
            #expect(forced.succeeded, "\(forced.transcript)")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: secret)) != before[0],
                "--force did not replace the secret key")
            #expect(try Self.permissions(of: secret) == 0o600, "the replaced secret key is not mode 600")
        }

        // MARK: CURVE

        @Test func curveAdmitsOnlyAuthorizedWorkers() async throws {
            let scratch = try ScratchDirectory("curve")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let keys = try scratch.directory("keys")
            let coordinatorKeys = try await Self.keygen("coordinator", in: keys, scratch: scratch)
            let workerKeys = try await Self.keygen("w1", in: keys, scratch: scratch)
            let intruderKeys = try await Self.keygen("intruder", in: keys, scratch: scratch)
            let authorized = try scratch.directory("authorized")
            try FileManager.default.copyItem(
                atPath: workerKeys.public, toPath: (authorized as NSString).appendingPathComponent("w1.pub"))

            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let port = try FreePort.next()
            let endpoint = "tcp://127.0.0.1:\(port)"
            let out = scratch.file("curve.safetensors")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", "1", "--bind", endpoint, "--curve-secret-key", coordinatorKeys.secret,
                        "--authorized-keys", authorized, "--register-timeout", "30", "--out", out,
                    ],
                    in: scratch))
            let listening = await Poll.until(timeout: .seconds(20)) {
                coordinator.stderrSoFar.contains("listening on") || !coordinator.isRunning
            }
            try #require(
                listening && coordinator.isRunning,
                "the coordinator did not start listening\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")

            // The uninvited, all at once, while the coordinator waits for its one worker.
            let intruder = reaper.track(
                try Descent.launchWorker(
                    [
                        "--connect", endpoint, "--name", "intruder", "--curve-secret-key", intruderKeys.secret,
                        "--server-public-key", coordinatorKeys.public, "--register-timeout", "3",
                    ], in: scratch))
            let keyless = reaper.track(
                try Descent.launchWorker(
                    ["--connect", endpoint, "--name", "keyless", "--register-timeout", "3"], in: scratch))
            let python = await Python.isAvailable(in: scratch)
            let probe =
                try python ? reaper.track(Python.launchHostileClient("null-probe", port: port, in: scratch)) : nil
            if !python {
                print("SecurityTests: python3 is not available; skipping the plain-ZMTP (NULL mechanism) probe")
            }

            let refused = try await intruder.wait(timeout: .seconds(20))
            #expect(refused.failedCleanly, "\(refused.transcript)")
            let refusedReason = refused.stderrLines.last?.lowercased() ?? ""
            #expect(
                refusedReason.contains("refused") && refusedReason.contains("curve"),
                "the intruder's reason does not say its CURVE key was refused\n\(refused.transcript)")

            let unanswered = try await keyless.wait(timeout: .seconds(20))
            #expect(unanswered.failedCleanly, "\(unanswered.transcript)")
            let unansweredReason = unanswered.stderrLines.last?.lowercased() ?? ""
            #expect(
                unansweredReason.contains("no coordinator"),
                "the keyless worker's reason does not say no coordinator answered\n\(unanswered.transcript)")
            #expect(
                unansweredReason.contains("curve"),
                "the keyless worker's reason does not mention CURVE\n\(unanswered.transcript)")

            if let probe {
                let report = try Python.report(of: try await probe.wait(timeout: .seconds(30)))
                // libzmq hangs up as soon as it reads the NULL mechanism, before naming its own.
                let mechanism = report["server_mechanism"] as? String
                #expect(
                    mechanism == nil || mechanism == "CURVE",
                    "the coordinator greeted with \(mechanism ?? "nothing"): \(report)")
                #expect(
                    report["ready"] as? Bool == false && report["ended"] != nil,
                    "a NULL-mechanism client completed a handshake with a CURVE coordinator: \(report)")
                #expect(
                    (report["messages"] as? Int) == 0,
                    "a NULL-mechanism client got messages from a CURVE coordinator: \(report)")
            }
            try #require(
                coordinator.isRunning,
                "the coordinator stopped before its worker came\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")

            let worker = reaper.track(
                try Descent.launchWorker(
                    [
                        "--connect", endpoint, "--name", "w1", "--curve-secret-key", workerKeys.secret,
                        "--server-public-key", coordinatorKeys.public, "--register-timeout", "10",
                    ], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let intruderPublic = try Self.key(in: intruderKeys.public)
            #expect(
                outcome.stderrLines.contains { $0.contains("refused") && $0.contains(intruderPublic) },
                "the coordinator did not log refusing the intruder's key \(intruderPublic)\n\(outcome.transcript)")
            let registrations = outcome.stderrLines.filter { $0.contains(" registered: ") }
            #expect(
                registrations.count == 1
                    && registrations.first?.contains("registered: w1 at 127.0.0.1; kernel ") == true,
                "expected w1 alone to register:\n\(registrations.joined(separator: "\n"))")
            #expect(try ModelComparison.sameBytes(out, reference), "the CURVE run differs from --in-process")
            let ended = try await worker.wait(timeout: .seconds(20))
            #expect(ended.succeeded, "\(ended.transcript)")
        }

        @Test func secretKeyReadableByOthersIsRefused() async throws {
            let scratch = try ScratchDirectory("key-mode")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let keys = try scratch.directory("keys")
            let coordinatorKeys = try await Self.keygen("coordinator", in: keys, scratch: scratch)
            let workerKeys = try await Self.keygen("w1", in: keys, scratch: scratch)
            let authorized = try scratch.directory("authorized")
            try FileManager.default.copyItem(
                atPath: workerKeys.public, toPath: (authorized as NSString).appendingPathComponent("w1.pub"))
            for path in [coordinatorKeys.secret, workerKeys.secret] {
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            }
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let out = scratch.file("out.safetensors")

            let coordinator = try await Descent.coordinator(
                SyntheticTraining.flags(csv: csv, batch: Self.batch)
                    + [
                        "--workers", "1", "--bind", endpoint, "--curve-secret-key", coordinatorKeys.secret,
                        "--authorized-keys", authorized, "--register-timeout", "2", "--out", out,
                    ],
                in: scratch, timeout: .seconds(30))
            #expect(coordinator.failedCleanly, "\(coordinator.transcript)")
            #expect(
                coordinator.stderr.contains("too open"),
                "the coordinator's reason does not say the key file is too open\n\(coordinator.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out))

            let worker = try await LaunchedProcess.run(
                try Binaries.worker(),
                [
                    "--connect", endpoint, "--curve-secret-key", workerKeys.secret, "--server-public-key",
                    coordinatorKeys.public, "--register-timeout", "2",
                ],
                in: scratch, timeout: .seconds(30))
            #expect(worker.failedCleanly, "\(worker.transcript)")
            #expect(
                worker.stderr.contains("too open"),
                "the worker's reason does not say the key file is too open\n\(worker.transcript)")
        }

        @Test func exposedBindNeedsCurveOrInsecure() async throws {
            let scratch = try ScratchDirectory("exposed")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let out = scratch.file("out.safetensors")
            let flags =
                SyntheticTraining.flags(csv: csv, batch: Self.batch)
                + [
                    "--workers", "1", "--bind", "tcp://0.0.0.0:\(try FreePort.next())", "--register-timeout", "1",
                    "--out", out,
                ]

            let refused = try await Descent.coordinator(flags, in: scratch, timeout: .seconds(30))
            #expect(refused.failedCleanly, "\(refused.transcript)")
            #expect(
                refused.stderr.contains("--insecure"), "the refusal does not mention --insecure\n\(refused.transcript)")
            #expect(
                !refused.stderr.contains("listening on"),
                "the coordinator listened on an exposed port before refusing\n\(refused.transcript)")

            let insecure = try await Descent.coordinator(flags + ["--insecure"], in: scratch, timeout: .seconds(30))
            #expect(insecure.failedCleanly, "\(insecure.transcript)")
            #expect(
                insecure.stderr.contains("listening on"),
                "with --insecure the coordinator did not get past validation\n\(insecure.transcript)")
            #expect(
                insecure.stderrLines.contains { $0.contains("warning") && $0.contains("--insecure") },
                "no warning about the unauthenticated, unencrypted bind\n\(insecure.transcript)")
            #expect(
                insecure.stderrLines.last?.contains("0 of 1") == true,
                "the run should stop for lack of workers\n\(insecure.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }

        // MARK: Hostile and broken peers

        /// A peer that speaks ZMTP but not Descent honestly (Reference/hostile_client.py): noise,
        /// truncated and mis-checksummed frames, a HELLO of version 99, stale, future and replayed
        /// PARTIALs, and a registered liar sending partials for shards it does not hold.
        @Test func garbageOnTheWireChangesNoBit() async throws {
            let scratch = try ScratchDirectory("garbage")
            guard await Python.isAvailable(in: scratch) else {
                print("SecurityTests: python3 is not available; skipping garbageOnTheWireChangesNoBit")
                return
            }
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let steps = 150
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: steps) + ["--shards", "2"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let port = try FreePort.next()
            let endpoint = "tcp://127.0.0.1:\(port)"
            let out = scratch.file("attacked.safetensors")
            let metrics = scratch.file("attacked.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", "2", "--bind", endpoint, "--register-timeout", "30", "--out", out, "--metrics",
                        metrics,
                    ], in: scratch))
            let workers = try (0..<2).map { index in
                reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", "honest-\(index)", "--register-timeout", "30"],
                        environment: ["DESCENT_FAULTS": "delay@*=20"], in: scratch))
            }
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")

            let hostile = try await reaper.track(Python.launchHostileClient("garbage", port: port, in: scratch)).wait(
                timeout: .seconds(60))
            let stillTraining = coordinator.isRunning && MetricsFile.completedSteps(metrics) < steps
            let report = try Python.report(of: hostile)
            #expect(stillTraining, "the run ended before the hostile client was done; the test proved little")
            #expect(
                (report["sent"] as? [String])?.count ?? 0 >= 15, "the hostile client sent less than planned: \(report)")
            #expect(
                report["v99_answer"] as? String == "REFUSE"
                    && (report["v99_reason"] as? String)?.contains("99") == true,
                "the HELLO of version 99 was not refused: \(report)")
            #expect(
                report["liar_welcomed"] as? Bool == true,
                "the liar could not register, so its lies were never judged: \(report)")

            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("protocol version 99"),
                "the coordinator did not log refusing version 99\n\(outcome.transcript)")
            #expect(try ModelComparison.sameBytes(out, reference), "garbage on the wire changed the weights")
            let lines = try MetricsFile(path: metrics).steps
            #expect(
                lines.count == steps && lines.allSatisfy { ($0.double("loss") ?? .nan).isFinite },
                "the metrics show missing steps or a non-finite loss")
            for worker in workers {
                let ended = try await worker.wait(timeout: .seconds(20))
                #expect(ended.succeeded, "an honest worker did not finish cleanly\n\(ended.transcript)")
            }
        }

        @Test func workerSendingNaNIsOverruled() async throws {
            let scratch = try ScratchDirectory("nan")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch) + ["--shards", "3"]
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let out = scratch.file("nan.safetensors")
            let outcome = try await Descent.launchCoordinator(
                common + ["--local-workers", "3", "--out", out], environment: ["DESCENT_FAULTS": "nan@1=4"], in: scratch
            )
            .wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.contains { $0.contains("worker 1 ") && $0.contains("bad partial") },
                "the coordinator did not log worker 1's bad partial\n\(outcome.transcript)")
            #expect(try ModelComparison.sameBytes(out, reference), "a NaN partial changed the weights")
            #expect(try CheckpointFiles.nonFiniteTensors(out).isEmpty)
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        /// With its only worker caught sending NaN, the coordinator computes the shard itself for
        /// that step; with no worker left it then either finishes or stops with a reason — never
        /// crashes, hangs, or writes a non-finite value.
        @Test func soleWorkerSendingNaNNeverPoisonsTheWeights() async throws {
            let scratch = try ScratchDirectory("nan-sole")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let common = SyntheticTraining.flags(csv: csv, batch: Self.batch)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)
            // The weights after step 4, the step whose partial was poisoned.
            let afterPoisonedStep = scratch.file("in-process-4.safetensors")
            try await SyntheticTraining.run(
                SyntheticTraining.flags(csv: csv, batch: Self.batch, steps: 4) + [
                    "--in-process", "--out", afterPoisonedStep,
                ], in: scratch)

            let registerTimeout = 2.0
            let out = scratch.file("nan.safetensors")
            let checkpoints = scratch.file("checkpoints")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--local-workers", "1", "--register-timeout", String(registerTimeout), "--checkpoint-dir",
                        checkpoints, "--out", out,
                    ],
                    environment: ["DESCENT_FAULTS": "nan@0=4"], in: scratch))
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            #expect(outcome.exited, "the coordinator crashed\n\(outcome.transcript)")
            #expect(outcome.seconds < registerTimeout + 15, "took \(outcome.seconds) s")
            #expect(
                outcome.stderr.contains("bad partial"),
                "the coordinator did not log the bad partial\n\(outcome.transcript)")
            if outcome.succeeded {
                #expect(
                    try ModelComparison.sameBytes(out, reference), "the run finished, but not with the in-process bits")
            } else {
                // Stopped for want of workers: the poisoned step was still completed, with the
                // coordinator's own partial, and checkpointed with the in-process bits.
                let reason = outcome.stderrLines.last ?? ""
                #expect(
                    reason.contains("--min-workers"),
                    "the run stopped without saying it ran out of workers\n\(outcome.transcript)")
                #expect(!FileManager.default.fileExists(atPath: out), "a run that stopped short wrote --out")
                let newest = try #require(CheckpointFiles.list(checkpoints).last, "the stopped run left no checkpoint")
                #expect(
                    try CheckpointFiles.step(newest) == 4,
                    "expected a checkpoint of step 4, the poisoned step, completed")
                let (checkpoint, expected) = (
                    try SafetensorsFile.read(from: newest), try SafetensorsFile.read(from: afterPoisonedStep)
                )
                for (name, tensor) in expected.tensors {
                    #expect(
                        checkpoint.tensors[name]?.values == tensor.values,
                        "\(name) after step 4 differs from --in-process")
                }
            }
            for path in CheckpointFiles.list(checkpoints) + (FileManager.default.fileExists(atPath: out) ? [out] : []) {
                #expect(try CheckpointFiles.nonFiniteTensors(path).isEmpty, "\(path) holds non-finite values")
            }
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(leftovers.isEmpty, "workers outlived the coordinator:\n\(ProcessTable.describe(leftovers))")
        }

        // MARK: Divergence

        struct Divergence: Sendable, CustomTestStringConvertible {
            let learningRate: String
            /// The synthetic features (multiples of 1/1000 in [−1, 1]) times this.
            let featureScale: Double

            var testDescription: String { "--lr \(learningRate), features ×\(Int(featureScale))" }
        }

        /// A diverging run stops with a reason, and what it leaves to resume from is finite. With
        /// large features and a huge rate the first update itself overflows W to ±inf.
        @Test(arguments: [
            Divergence(learningRate: "1e30", featureScale: 1), Divergence(learningRate: "1e37", featureScale: 1000),
        ])
        func divergenceStopsWithFiniteCheckpoints(_ divergence: Divergence) async throws {
            let scratch = try ScratchDirectory("diverge")
            var data = LabelledData.synthetic()
            data.rows = data.rows.map { $0.map { $0 * divergence.featureScale } }
            let csv = try data.write(to: scratch.file("data.csv"))
            let checkpoints = scratch.file("checkpoints")
            let out = scratch.file("out.safetensors")
            var flags = SyntheticTraining.flags(csv: csv, batch: Self.batch)
            flags[flags.firstIndex(of: "--lr")! + 1] = divergence.learningRate
            let outcome = try await Descent.coordinator(
                flags + ["--in-process", "--checkpoint-dir", checkpoints, "--checkpoint-every", "1", "--out", out],
                in: scratch)
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(
                outcome.stderrLines.last?.contains("diverged") == true,
                "the reason does not say the run diverged\n\(outcome.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out), "a diverged run wrote --out")
            #expect(try outcome.summary().string("status") == "diverged", "\(outcome.transcript)")
            // The step that would have diverged was refused, so the last good one is step N − 1:
            // its checkpoint must exist (unless N is 1: nothing was done), and every checkpoint
            // must be finite.
            let reason = outcome.stderrLines.last ?? ""
            let divergedAt = try #require(
                reason.range(of: #"step (\d+)"#, options: .regularExpression).flatMap { Int(reason[$0].dropFirst(5)) },
                "the reason names no step: \(reason)")
            let files = CheckpointFiles.list(checkpoints)
            // The last finite parameters are also written beside --out, and the summary says where.
            let lastFinite = scratch.file("out.last-finite.safetensors")
            if divergedAt > 1 {
                let newest = try #require(files.last, "no checkpoint was written")
                #expect(
                    try CheckpointFiles.step(newest) == divergedAt - 1,
                    "the newest checkpoint is not the last good step")
                #expect(try CheckpointFiles.step(lastFinite) == divergedAt - 1, "\(outcome.transcript)")
                #expect(try outcome.summary().string("out") == lastFinite)
                #expect(outcome.stderr.contains("last finite parameters"), "\(outcome.transcript)")
            } else {
                #expect(files.isEmpty, "a checkpoint was written although no step completed")
                #expect(
                    !FileManager.default.fileExists(atPath: lastFinite), "nothing was trained, yet a model was written")
            }
            for file in files + (divergedAt > 1 ? [lastFinite] : []) {
                let poisoned = try CheckpointFiles.nonFiniteTensors(file)
                #expect(poisoned.isEmpty, "\(file) holds non-finite values in \(poisoned)")
            }
        }
    }
}
