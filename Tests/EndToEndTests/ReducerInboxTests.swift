import Foundation
import Testing

extension EndToEnd {
    /// A reducer's inbox is open to whoever reaches its port: the JOIN token, not the connection,
    /// admits a worker's pieces. A hostile peer there — noise, pieces without a JOIN, pieces under
    /// a made-up token of every wrong sort and of the right shape for every step, and every message
    /// only the coordinator may send — neither stops the reducer nor changes a bit of the weights.
    @Suite("A hostile peer at a reducer's inbox")
    struct ReducerInboxTests {
        @Test func aHostilePeerAtTheInboxChangesNoBit() async throws {
            let scratch = try ScratchDirectory("reducer-inbox")
            guard await Python.isAvailable(in: scratch) else {
                print("ReducerInboxTests: python3 is not available; skipping aHostilePeerAtTheInboxChangesNoBit")
                return
            }
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            // Long enough (at least 6 s of delayed steps) that the hostile client is done well before.
            let steps = 300
            // 8-64-64-3 over 8 shards of 8 examples: the pieces the hostile client forges have
            // the shape of range 1's.
            let common = ReducerTests.flags(csv: csv, optimizer: "adam", steps: steps)
            let reference = scratch.file("in-process.safetensors")
            try await SyntheticTraining.run(common + ["--in-process", "--out", reference], in: scratch)

            let endpoint = "tcp://127.0.0.1:\(try FreePort.next())"
            let inboxPort = try FreePort.next()
            let out = scratch.file("attacked.safetensors")
            let metrics = scratch.file("attacked.jsonl")
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    common + [
                        "--workers", "2", "--reducers", "2", "--bind", endpoint, "--register-timeout", "30", "--out",
                        out, "--metrics", metrics,
                    ], in: scratch))
            let workers = try (0..<2).map { index in
                reaper.track(
                    try Descent.launchWorker(
                        ["--connect", endpoint, "--name", "honest-\(index)", "--register-timeout", "30"],
                        environment: ["DESCENT_FAULTS": "delay@*=20"], in: scratch))
            }
            let reducer = reaper.track(
                try Descent.launchWorker(
                    [
                        "--connect", endpoint, "--name", "r1", "--register-timeout", "30", "--reduce-at",
                        "tcp://127.0.0.1:\(inboxPort)",
                    ], in: scratch))
            let training = await MetricsFile.waitForSteps(5, in: metrics, of: coordinator)
            try #require(training, "the run never reached step 5\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")

            let hostile = try await reaper.track(Python.launchHostileClient("reducer", port: inboxPort, in: scratch))
                .wait(timeout: .seconds(60))
            let stillTraining = coordinator.isRunning && MetricsFile.completedSteps(metrics) < steps
            let report = try Python.report(of: hostile)
            #expect(stillTraining, "the run ended before the hostile client was done; the test proved little")
            let sent = report["sent"] as? [String] ?? []
            let messages = report["messages"] as? Int ?? 0
            #expect(
                sent.count >= 400 && messages >= 380 && report["joins"] as? Int == 3,
                "the hostile client sent less than planned: \(sent.count) sends, \(messages) messages")
            #expect(report["socket_type"] as? String == "ROUTER", "the hostile client met no inbox: \(report)")
            #expect(
                report["inbox_alive_after"] as? Bool == true && report["cut_off"] == nil,
                "the inbox stopped taking connections: \(report["cut_off"] ?? "it did not greet the last one")\n\(ProcessOutcome.tail(reducer.stderrSoFar))"
            )
            for kind in ["REDUCE_STEP", "REDUCER_ASSIGN", "RANGE_STATE", "STATE_REQUEST", "NaN PARTIAL", "bad CRC"] {
                #expect(sent.contains { $0.hasPrefix("liar: ") && $0.contains(kind) }, "no \(kind) was sent: \(sent)")
            }

            let outcome = try await coordinator.wait(timeout: .seconds(60))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            let difference = try ModelComparison.relativeDifference(out, reference)
            #expect(
                try ModelComparison.sameBytes(out, reference),
                "a hostile peer at the reducer's inbox changed the weights (max |Δ|/max|W| = \(difference))")
            let lines = try MetricsFile(path: metrics).steps
            #expect(lines.count == steps, "the metrics show \(lines.count) of \(steps) steps")
            let served = try await reducer.wait(timeout: .seconds(20))
            #expect(served.succeeded, "the reducer did not finish cleanly\n\(served.transcript)")
            // Every message the hostile client delivered was seen and dropped: refused, or held for
            // a token the coordinator never allowed.
            let dropped = Self.dropped(in: served.stderr)
            #expect(
                dropped.map { $0.refused + $0.held >= messages } == true,
                "the reducer dropped \(dropped.map { "\($0)" } ?? "nothing it said") of \(messages)\n\(served.transcript)"
            )
            #expect(
                !served.stderr.contains("through the inbox, not from the coordinator"),
                "a message the coordinator sends came through the inbox\n\(served.transcript)")
            for worker in workers {
                let ended = try await worker.wait(timeout: .seconds(20))
                #expect(ended.succeeded, "an honest worker did not finish cleanly\n\(ended.transcript)")
            }
        }

        /// "the inbox refused R message(s) and holds H from tokens never allowed", as the reducer
        /// says when the run ends.
        static func dropped(in stderr: String) -> (refused: Int, held: Int)? {
            for line in stderr.split(separator: "\n") {
                guard let start = line.range(of: "the inbox refused ") else { continue }
                let words = line[start.upperBound...].split(separator: " ")
                guard words.count > 5, let refused = Int(words[0]), words[3] == "holds", let held = Int(words[4])
                else { continue }
                return (refused, held)
            }
            return nil
        }
    }
}
