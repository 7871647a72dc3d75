import Core
import Metrics
import Prometheus

/// The run's live figures in swift-metrics, exported in the Prometheus text format by
/// `MetricsEndpoint`: what a dashboard of a training job wants to plot. The same figures go to the
/// `history` the live page draws.
final class TrainingMetrics {
    let registry = PrometheusCollectorRegistry()
    let history = RunHistory()
    /// In-process, where no pool keeps `/status` current: the step and state, set here.
    var inProcessStatus: RunStatus?
    private let step: Metrics.Gauge
    private let epoch: Metrics.Gauge
    private let loss: Metrics.Gauge
    private let accuracy: Metrics.Gauge
    private let examplesPerSecond: Metrics.Gauge
    private let workersAlive: Metrics.Gauge
    private let testAccuracy: Metrics.Gauge
    private let testLoss: Metrics.Gauge
    private let bitReproducible: Metrics.Gauge
    private let examples: Metrics.Counter
    private let lostWorkers: Metrics.Counter
    private let shardMoves: Metrics.Counter
    private let backups: Metrics.Counter
    private let rejectedMessages: Metrics.Counter
    private let bytesSent: Metrics.Counter
    private let bytesReceived: Metrics.Counter
    private let bytesReceivedShared: Metrics.Counter
    private let phases: [(KeyPath<StepTimings, Double>, Metrics.Timer)]
    private var lastLost = 0
    private var lastMoves = 0
    private var lastBackups = 0
    private var lastRejected = 0

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        step = Metrics.Gauge(label: "descent_step")
        epoch = Metrics.Gauge(label: "descent_epoch")
        loss = Metrics.Gauge(label: "descent_loss")
        accuracy = Metrics.Gauge(label: "descent_train_accuracy")
        examplesPerSecond = Metrics.Gauge(label: "descent_examples_per_second")
        workersAlive = Metrics.Gauge(label: "descent_workers_alive")
        testAccuracy = Metrics.Gauge(label: "descent_test_accuracy")
        testLoss = Metrics.Gauge(label: "descent_test_loss")
        bitReproducible = Metrics.Gauge(label: "descent_bit_reproducible")
        examples = Metrics.Counter(label: "descent_examples_total")
        lostWorkers = Metrics.Counter(label: "descent_workers_lost_total")
        shardMoves = Metrics.Counter(label: "descent_shard_moves_total")
        backups = Metrics.Counter(label: "descent_backup_shards_total")
        rejectedMessages = Metrics.Counter(label: "descent_rejected_messages_total")
        bytesSent = Metrics.Counter(label: "descent_bytes_sent_total")
        bytesReceived = Metrics.Counter(label: "descent_bytes_received_total")
        bytesReceivedShared = Metrics.Counter(label: "descent_bytes_received_shared_total")
        phases = [
            (\.compute, "compute"), (\.computeSlowest, "compute_slowest"), (\.send, "send"), (\.wait, "wait"),
            (\.reduce, "reduce"), (\.update, "update"), (\.total, "step"),
        ].map { ($0.0, Metrics.Timer(label: "descent_step_phase_seconds", dimensions: [("phase", $0.1)])) }
    }

    /// The kernel the run computes with, as an info metric (value 1); once, at the start.
    func record(arithmetic: RunArithmetic) {
        Metrics.Gauge(
            label: "descent_arithmetic_info",
            dimensions: [("blas_kernel", arithmetic.kernel), ("blas_threads", "\(arithmetic.profile.threads)")]
        ).record(1)
    }

    /// Whether the run is still bit-reproducible (1), or admitted a worker that computes otherwise (0).
    func record(bitReproducible reproducible: Bool) {
        bitReproducible.record(reproducible ? 1 : 0)
    }

    /// `bytesReceivedShared`: of the step's bytes received, those that came through shared memory.
    func record(_ report: StepReport, bytesReceivedShared shared: Int) {
        history.record(report)
        inProcessStatus?.update {
            $0.state = "training"
            $0.step = report.step
        }
        step.record(report.step)
        epoch.record(report.epoch)
        loss.record(report.loss)
        accuracy.record(report.accuracy)
        examplesPerSecond.record(report.examplesPerSecond)
        workersAlive.record(report.workers)
        examples.increment(by: report.examples)
        let t = report.timings
        bytesSent.increment(by: t.bytesSent)
        bytesReceived.increment(by: t.bytesReceived)
        bytesReceivedShared.increment(by: shared)
        lostWorkers.increment(by: max(0, t.lostWorkers - lastLost))
        rejectedMessages.increment(by: max(0, t.rejectedMessages - lastRejected))
        lastLost = t.lostWorkers
        shardMoves.increment(by: max(0, t.shardMoves - lastMoves))
        lastMoves = t.shardMoves
        backups.increment(by: max(0, t.backups - lastBackups))
        lastBackups = t.backups
        lastRejected = t.rejectedMessages
        for (path, timer) in phases { timer.recordSeconds(t[keyPath: path]) }
    }

    func record(_ report: EvaluationReport) {
        history.record(report)
        testAccuracy.record(report.result.accuracy)
        testLoss.record(report.result.loss)
    }
}
