import Foundation
import Testing

extension EndToEnd {
    /// A stuck run explains itself from outside (issue 20): the log and `/status` name the worker
    /// a step waits for, its shards and when it was last heard. Backup computation is off
    /// (`--backup-after 0`), as it is for a 16-bit run: otherwise the coordinator would not wait.
    @Suite("A hang explains itself")
    struct HangTests {
        @Test func statusAndTheLogNameAStalledWorker() async throws {
            let scratch = try ScratchDirectory("hang")
            let reaper = ProcessReaper()
            defer { reaper.killAll() }
            let csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            let port = try FreePort.next()
            let coordinator = reaper.track(
                try Descent.launchCoordinator(
                    SyntheticTraining.flags(csv: csv, batch: 64, steps: 30) + [
                        "--local-workers", "2", "--worker-timeout", "60", "--backup-after", "0",
                        "--metrics-port", String(port), "--out",
                        scratch.file("out.safetensors"),
                    ],
                    environment: ["DESCENT_FAULTS": "stall@1=5"], in: scratch))
            var waiting: [[String: Any]] = []
            let reported = await coordinator.poll(timeout: .seconds(30)) {
                guard let response = try? HTTPResponse.get("/status", port: port), response.status == 200,
                    let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                else { return false }
                waiting = object["waiting_for"] as? [[String: Any]] ?? []
                return (object["step_running_s"] as? Double ?? 0) > 2.5 && !waiting.isEmpty
            }
            try #require(
                reported, "/status never showed a step waiting\n\(ProcessOutcome.tail(coordinator.stderrSoFar))")
            #expect(waiting.count == 1 && waiting.first?["rank"] as? Int == 1, "waiting for \(waiting)")
            #expect(waiting.first?["shards"] as? [Int] == [1], "awaited shards: \(waiting)")
            #expect((waiting.first?["last_heard_s"] as? Double ?? 0) > 1, "the stalled worker was heard lately")
            let logged = await coordinator.poll(timeout: .seconds(10)) {
                coordinator.stderrSoFar.contains("step 5 has waited")
            }
            let line = coordinator.stderrSoFar.split(separator: "\n").first { $0.contains("step 5 has waited") } ?? ""
            #expect(logged && line.contains("worker 1 (local-") && line.contains("for shard(s) [1]"), "\(line)")

            for worker in ProcessTable.workers(of: coordinator.pid) where worker.state == "T" {
                kill(worker.pid, SIGCONT)
            }
            let outcome = try await coordinator.wait(timeout: .seconds(60))
            #expect(outcome.succeeded, "the run did not finish once the worker went on\n\(outcome.transcript)")
        }
    }
}
