import Core
import Foundation

/// The run's curves so far, for the live page (`GET /history`): the steps' loss, accuracy,
/// learning rate and speed, and the evaluations, in memory that stays bounded however long the run.
///
/// Every step is offered; one in `stride` is kept. When `capacity` points are kept, every second
/// one is dropped (the first and the last stay) and `stride` doubles, so the kept points stay
/// evenly spread over the whole run. Evaluations are thinned alike, within their own capacity.
/// The newest step and evaluation are always served (`latest`), kept or not.
///
/// Each kept point and evaluation gets the next number of a sequence that never goes back; a
/// reader passes the `next` it was given as `since` and receives only what came after. When the
/// series has been thinned (`thinnings` changed) a reader that keeps a copy starts again from 0.
final class RunHistory: @unchecked Sendable {
    struct Point: Equatable {
        var step: Int
        var epoch: Int
        var loss: Double
        var accuracy: Double
        var learningRate: Double
        var examplesPerSecond: Double
    }

    struct Evaluation: Equatable {
        var step: Int
        var epoch: Int
        var loss: Double
        var accuracy: Double
    }

    /// What a reader receives: what came after its `since`, and the run's position.
    struct Page {
        var points: [Point]
        var evaluations: [Evaluation]
        var latest: Point?
        var latestEvaluation: Evaluation?
        /// The `since` that asks for what comes after this page.
        var next: Int
        var thinnings: Int
        var stride: Int
        var totalSteps: Int?
        /// Seconds to the last step at the pace since the first step recorded; nil before two.
        var etaSeconds: Double?
    }

    private let lock = NSLock()
    private var points: Series<Point>
    private var evaluations: Series<Evaluation>
    private var sequence = 0
    private var totalSteps: Int?
    private var first: (step: Int, at: ContinuousClock.Instant)?
    private var latestAt: ContinuousClock.Instant?

    init(capacity: Int = 2048, evaluationCapacity: Int = 512) {
        precondition(capacity >= 4 && evaluationCapacity >= 4, "a history keeps at least 4 points")
        points = Series(capacity: capacity)
        evaluations = Series(capacity: evaluationCapacity)
    }

    /// The step count the run will reach, for the page's progress and ETA.
    func start(totalSteps: Int) {
        lock.withLock { self.totalSteps = totalSteps }
    }

    func record(_ report: StepReport, at now: ContinuousClock.Instant = .now) {
        record(
            Point(
                step: report.step, epoch: report.epoch, loss: report.loss, accuracy: report.accuracy,
                learningRate: Double(report.learningRate), examplesPerSecond: report.examplesPerSecond),
            at: now)
    }

    func record(_ point: Point, at now: ContinuousClock.Instant = .now) {
        lock.withLock {
            latestAt = now
            if first == nil { first = (point.step, now) }
            points.offer(point, step: point.step, sequence: &sequence)
        }
    }

    func record(_ report: EvaluationReport) {
        record(
            Evaluation(
                step: report.step, epoch: report.epoch, loss: report.result.loss, accuracy: report.result.accuracy))
    }

    func record(_ evaluation: Evaluation) {
        lock.withLock { evaluations.offer(evaluation, step: evaluation.step, sequence: &sequence) }
    }

    /// What was kept after `since` (0: everything kept). A `since` beyond what was ever handed
    /// out (a reader of another run) counts as 0.
    func page(since: Int) -> Page {
        lock.withLock {
            let after = since > sequence || since < 0 ? 0 : since
            var eta: Double?
            if let first, let latest = points.latest, let latestAt, let totalSteps, latest.step > first.step {
                let perStep = (latestAt - first.at).inSeconds / Double(latest.step - first.step)
                eta = perStep * Double(max(0, totalSteps - latest.step))
            }
            return Page(
                points: points.kept(after: after), evaluations: evaluations.kept(after: after),
                latest: points.latest, latestEvaluation: evaluations.latest, next: sequence,
                thinnings: points.thinnings + evaluations.thinnings, stride: points.stride, totalSteps: totalSteps,
                etaSeconds: eta)
        }
    }

    /// Elements 0, 2, 4, … of `items`, and the last.
    static func halved<T>(_ items: [T]) -> [T] {
        var kept = Swift.stride(from: 0, to: items.count, by: 2).map { items[$0] }
        if items.count % 2 == 0, let last = items.last { kept.append(last) }
        return kept
    }

    /// At most `capacity` items, at least `stride` steps apart, each with its number in the sequence.
    private struct Series<Item> {
        let capacity: Int
        private(set) var items: [(sequence: Int, step: Int, item: Item)] = []
        private(set) var stride = 1
        private(set) var thinnings = 0
        private(set) var latest: Item?
        private var lastKeptStep: Int?

        init(capacity: Int) { self.capacity = capacity }

        /// Keeps `item` if it is a stride past the last kept, after halving a full series.
        mutating func offer(_ item: Item, step: Int, sequence: inout Int) {
            latest = item
            if items.count >= capacity {
                items = RunHistory.halved(items)
                // Twice the stride, or the mean gap now kept where items come further apart than
                // a step (evaluations, once an epoch).
                let span = items.last!.step - items.first!.step
                stride = max(stride * 2, span / max(1, items.count - 1))
                thinnings += 1
            }
            if let lastKeptStep, step - lastKeptStep < stride { return }
            sequence += 1
            items.append((sequence, step, item))
            lastKeptStep = step
        }

        func kept(after since: Int) -> [Item] {
            // The sequence only grows: what came after `since` is a suffix.
            let start = items.lastIndex { $0.sequence <= since }.map { $0 + 1 } ?? 0
            return items[start...].map(\.item)
        }
    }
}

extension RunHistory {
    /// The JSON `/history?since=N` serves; a figure that is not finite (a diverged loss) is null.
    func json(since: Int) -> [UInt8] {
        let object = Self.render(page(since: since))
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data) + [10]
    }

    static func render(_ page: Page) -> [String: Any] {
        var object: [String: Any] = [
            "points": page.points.map(render), "evaluations": page.evaluations.map(render), "next": page.next,
            "thinnings": page.thinnings, "stride": page.stride,
        ]
        if let latest = page.latest { object["latest"] = render(latest) }
        if let latest = page.latestEvaluation { object["latest_evaluation"] = render(latest) }
        if let total = page.totalSteps { object["total_steps"] = total }
        if let eta = page.etaSeconds { object["eta_s"] = number(eta) }
        return object
    }

    private static func render(_ point: Point) -> [String: Any] {
        [
            "step": point.step, "epoch": point.epoch, "loss": number(point.loss), "accuracy": number(point.accuracy),
            "lr": number(point.learningRate), "examples_per_s": number(point.examplesPerSecond),
        ]
    }

    private static func render(_ evaluation: Evaluation) -> [String: Any] {
        [
            "step": evaluation.step, "epoch": evaluation.epoch, "loss": number(evaluation.loss),
            "accuracy": number(evaluation.accuracy),
        ]
    }

    /// JSON has no NaN or infinity.
    private static func number(_ value: Double) -> Any { value.isFinite ? value : NSNull() }
}
