import Foundation
import Testing

@testable import Coordinator

/// The live page's history: bounded however long the run, evenly thinned with the first and the
/// newest step kept, and `since` handing out only what is new.
@Suite("run history")
struct RunHistoryTests {
    static func point(_ step: Int, loss: Double? = nil) -> RunHistory.Point {
        RunHistory.Point(
            step: step, epoch: 1 + step / 100, loss: loss ?? 1 / Double(step), accuracy: 0.5, learningRate: 0.1,
            examplesPerSecond: 1000)
    }

    static func evaluation(_ step: Int) -> RunHistory.Evaluation {
        RunHistory.Evaluation(step: step, epoch: step / 100, loss: 0.5, accuracy: 0.8)
    }

    @Test func keepsEveryStepUntilFull() {
        let history = RunHistory(capacity: 16)
        for step in 1...16 { history.record(Self.point(step)) }
        let page = history.page(since: 0)
        #expect(page.points.map(\.step) == Array(1...16))
        #expect(page.thinnings == 0 && page.stride == 1)
        #expect(page.latest?.step == 16)
        #expect(page.next == 16)
    }

    @Test func staysBoundedAndEvenlySpreadOverALongRun() {
        let history = RunHistory(capacity: 16)
        let steps = 30_000
        for step in 1...steps {
            history.record(Self.point(step))
            if step % 97 == 0 { #expect(history.page(since: 0).points.count <= 16, "at step \(step)") }
        }
        let page = history.page(since: 0)
        let kept = page.points.map(\.step)
        #expect(kept.count <= 16 && kept.count >= 8, "\(kept)")
        #expect(kept.first == 1, "the first step is not kept: \(kept)")
        #expect(kept == kept.sorted() && Set(kept).count == kept.count, "\(kept)")
        #expect(page.latest?.step == steps, "latest \(String(describing: page.latest))")
        #expect(page.thinnings > 0 && page.stride == 1 << page.thinnings)
        // Evenly spread: no gap between kept steps wider than a stride.
        let gaps = zip(kept.dropFirst(), kept).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 <= page.stride }, "gaps \(gaps), stride \(page.stride)")
        #expect(steps - kept.last! < page.stride, "the last kept step \(kept.last!) is far from \(steps)")
    }

    @Test func thinningKeepsTheFirstAndTheLast() {
        #expect(RunHistory.halved([1, 2, 3, 4, 5, 6]) == [1, 3, 5, 6])
        #expect(RunHistory.halved([1, 2, 3, 4, 5]) == [1, 3, 5])
        #expect(RunHistory.halved([7]) == [7])
        #expect(RunHistory.halved([Int]()) == [])

        let history = RunHistory(capacity: 8)
        for step in 1...8 { history.record(Self.point(step)) }
        history.record(Self.point(9))
        let page = history.page(since: 0)
        #expect(page.thinnings == 1 && page.stride == 2)
        #expect(page.points.map(\.step) == [1, 3, 5, 7, 8], "step 9 is one stride from 8 and waits")
        #expect(page.latest?.step == 9)
        history.record(Self.point(10))
        #expect(history.page(since: 0).points.map(\.step) == [1, 3, 5, 7, 8, 10])
    }

    @Test func sinceHandsOutOnlyWhatCameAfter() {
        let history = RunHistory(capacity: 64)
        for step in 1...5 { history.record(Self.point(step)) }
        let first = history.page(since: 0)
        #expect(first.points.map(\.step) == [1, 2, 3, 4, 5])
        #expect(history.page(since: first.next).points.isEmpty)
        #expect(history.page(since: first.next).evaluations.isEmpty)

        history.record(Self.evaluation(5))
        for step in 6...7 { history.record(Self.point(step)) }
        let second = history.page(since: first.next)
        #expect(second.points.map(\.step) == [6, 7])
        #expect(second.evaluations.map(\.step) == [5], "the evaluation of the step already read is new")
        #expect(second.next > first.next)
        #expect(history.page(since: 3).points.map(\.step) == [4, 5, 6, 7])

        // A cursor from another run (beyond anything handed out), or a negative one: everything.
        #expect(history.page(since: 1_000).points.count == 7)
        #expect(history.page(since: -4).points.count == 7)
    }

    @Test func evaluationsStayBoundedToo() {
        let history = RunHistory(capacity: 8, evaluationCapacity: 4)
        for step in 1...50 { history.record(Self.evaluation(step * 10)) }
        let page = history.page(since: 0)
        let kept = page.evaluations.map(\.step)
        #expect(kept.count <= 4 && kept.count >= 2 && kept.first == 10, "\(kept)")
        #expect(page.latestEvaluation?.step == 500)
        #expect(page.thinnings > 0, "evaluations thinned, yet no thinning counted")
    }

    @Test func etaFollowsThePaceSoFar() {
        let history = RunHistory()
        history.start(totalSteps: 110)
        let start = ContinuousClock.now
        history.record(Self.point(10), at: start)
        #expect(history.page(since: 0).etaSeconds == nil, "an ETA from one step")
        history.record(Self.point(60), at: start + .seconds(5))
        let page = history.page(since: 0)
        #expect(page.totalSteps == 110)
        #expect(abs((page.etaSeconds ?? -1) - 5) < 1e-9, "ETA \(String(describing: page.etaSeconds))")
    }

    @Test func theJSONHasNoNaN() throws {
        let history = RunHistory()
        history.start(totalSteps: 10)
        history.record(Self.point(1, loss: .nan))
        history.record(Self.point(2, loss: .infinity))
        history.record(Self.evaluation(2))
        let bytes = history.json(since: 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let points = try #require(object["points"] as? [[String: Any]])
        #expect(points.count == 2)
        #expect(points.allSatisfy { $0["loss"] is NSNull }, "\(points)")
        #expect((points.first?["step"] as? Int) == 1)
        #expect((object["evaluations"] as? [[String: Any]])?.count == 1)
        #expect((object["total_steps"] as? Int) == 10)
        #expect((object["next"] as? Int) == 3)
        #expect(((object["latest"] as? [String: Any])?["step"] as? Int) == 2)
    }
}
