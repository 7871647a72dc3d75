import Core
import Testing

@testable import Coordinator

/// A step that waits longer than usual says whom it waits for: in the log, and on `/status`.
@Suite("Hangs explain themselves")
struct StepWatchTests {
    @Test func aStepIsLatePastFiveTimesTheUsualAndIsReportedAgainAsItsWaitDoubles() {
        var watch = HangWatch()
        watch.begin()
        // Each answer is taken before it is checked: isLate moves the next report on.
        let answers = [1900, 2100, 3000, 4300].map { watch.isLate(.milliseconds($0)) }
        #expect(answers == [false, true, false, true], "late past 2 s, again once the wait doubles: \(answers)")
        for _ in 0..<50 { watch.finish(seconds: 1.0) }
        watch.begin()
        let usual = [4000, 5000].map { watch.isLate(.milliseconds($0)) }
        #expect(usual == [false, true], "steps of about 1 s are late only after 5 s: \(usual)")
    }

    static func snapshot(now: ContinuousClock.Instant) -> RunStatus.Snapshot {
        RunStatus.Snapshot(
            state: "waiting", step: 42, stepStarted: now - .seconds(7), typicalStepSeconds: 0.01,
            workers: [
                RunStatus.Worker(
                    rank: 0, name: "local-0", shards: [0, 1], lastHeard: now - .milliseconds(100),
                    examplesPerSecond: 50_000),
                RunStatus.Worker(rank: 1, name: "local-1", shards: [2, 3], lastHeard: now - .seconds(6)),
            ],
            awaited: [1: [2, 3]])
    }

    @Test func theLogLineNamesTheWorkerItsShardsAndWhenItWasLastHeard() {
        let now = ContinuousClock.now
        let line = HangWatch.describe(Self.snapshot(now: now), now: now)
        #expect(line == "worker 1 (local-1) for shard(s) [2, 3], last heard 6.0 s ago", "\(line)")
    }

    @Test func statusNamesTheStalledWorker() throws {
        let now = ContinuousClock.now
        let object = RunStatus.render(Self.snapshot(now: now), now: now)
        #expect(object["step"] as? Int == 42)
        #expect(object["state"] as? String == "waiting")
        #expect((object["step_running_s"] as? Double).map { abs($0 - 7) < 1e-9 } == true)
        let waiting = try #require(object["waiting_for"] as? [[String: Any]])
        #expect(waiting.count == 1)
        #expect(waiting.first?["name"] as? String == "local-1")
        #expect(waiting.first?["shards"] as? [Int] == [2, 3])
        let workers = try #require(object["workers"] as? [[String: Any]])
        #expect(workers.map { $0["rank"] as? Int } == [0, 1])
        #expect(workers.first?["examples_per_s"] as? Double == 50_000)
        #expect(workers.last?["examples_per_s"] == nil, "no speed before a partial")
    }
}
