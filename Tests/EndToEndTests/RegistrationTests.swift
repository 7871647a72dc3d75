import Foundation
import Testing

extension EndToEnd {
    /// Registration failures end both sides promptly, each with a message that says what went
    /// wrong. The worker binary is launched directly, as on a remote machine.
    @Suite("Registration failures")
    struct RegistrationTests {
        /// The flags of a small coordinator run waiting for `workers` workers on `port`.
        static func coordinatorArguments(csv: String, port: Int, workers: Int, registerTimeout: Int, out: String)
            -> [String]
        {
            [
                "train", "--workers", String(workers), "--bind", "tcp://127.0.0.1:\(port)",
                "--register-timeout", String(registerTimeout), "--dataset", "csv:\(csv)", "--layers", "8,5,3",
                "--steps", "1", "--out", out,
            ]
        }

        @Test func workerWithNoCoordinatorGivesUp() async throws {
            let scratch = try ScratchDirectory("no-coordinator")
            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let outcome = try await Descent.launchWorker(
                ["--connect", endpoint, "--register-timeout", "2"], in: scratch
            )
            .wait(timeout: .seconds(20))
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(outcome.seconds < 6, "took \(outcome.seconds) s to give up with --register-timeout 2")
            let reason = outcome.stderrLines.last?.lowercased() ?? ""
            #expect(
                reason.contains("no coordinator"),
                "the reason does not say no coordinator answered\n\(outcome.transcript)")
            #expect(reason.contains(endpoint), "the reason does not name \(endpoint)\n\(outcome.transcript)")
        }

        @Test func workerWithAnotherProtocolVersionIsRefused() async throws {
            let scratch = try ScratchDirectory("version")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let port = try FreePort.next()
            let out = scratch.file("out.safetensors")
            let coordinator = try Descent.launchCoordinator(
                Self.coordinatorArguments(csv: csv, port: port, workers: 1, registerTimeout: 3, out: out), in: scratch)
            let worker = try Descent.launchWorker(
                ["--connect", "tcp://127.0.0.1:\(port)", "--register-timeout", "10"],
                environment: ["DESCENT_FAULTS": "version@*=99"], in: scratch)

            let refused = try await worker.wait(timeout: .seconds(20))
            #expect(refused.failedCleanly, "\(refused.transcript)")
            #expect(
                refused.seconds < 8,
                "the refusal took \(refused.seconds) s; it should not wait for --register-timeout 10")
            let reason = refused.stderrLines.last?.lowercased() ?? ""
            #expect(
                reason.contains("version") && reason.contains("99"),
                "the worker's reason does not name protocol version 99\n\(refused.transcript)")

            let gaveUp = try await coordinator.wait(timeout: .seconds(20))
            #expect(gaveUp.failedCleanly, "\(gaveUp.transcript)")
            let log = gaveUp.stderr.lowercased()
            #expect(
                log.contains("99") && log.contains("version") && (log.contains("refus") || log.contains("reject")),
                "the coordinator did not log refusing protocol version 99\n\(gaveUp.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }

        @Test func coordinatorShortOfWorkersSaysHowManyArrived() async throws {
            let scratch = try ScratchDirectory("too-few")
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let port = try FreePort.next()
            let out = scratch.file("out.safetensors")
            let coordinator = try Descent.launchCoordinator(
                Self.coordinatorArguments(csv: csv, port: port, workers: 2, registerTimeout: 2, out: out), in: scratch)
            let worker = try Descent.launchWorker(
                ["--connect", "tcp://127.0.0.1:\(port)", "--register-timeout", "10"], in: scratch)

            let outcome = try await coordinator.wait(timeout: .seconds(20))
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            #expect(outcome.seconds < 8, "took \(outcome.seconds) s to give up with --register-timeout 2")
            let reason = outcome.stderrLines.last ?? ""
            #expect(reason.contains("1 of 2"), "the reason does not say 1 of 2 workers arrived\n\(outcome.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out))

            // The worker that did register must be let go, not left waiting for steps.
            let released = try await worker.wait(timeout: .seconds(15))
            #expect(released.exited, "\(released.transcript)")
        }
    }
}
