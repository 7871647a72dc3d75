import Core
import Prometheus

/// The run's live figures in swift-metrics, exported in the Prometheus text format by
/// `MetricsEndpoint`: what a dashboard of a training job wants to plot. The same figures go to the
/// `history` the live page draws.
final class TrainingMetrics {
    let registry = PrometheusCollectorRegistry()
    let history = RunHistory()
    /// In-process, where no pool keeps `/status` current: the step and state, set here.
    var inProcessStatus: RunStatus?
    private let step: Gauge
    private let epoch: Gauge
    private let loss: Gauge
    private let accuracy: Gauge
    private let examplesPerSecond: Gauge
    private let workersAlive: Gauge
    /// Made at the first evaluation: a test metric that reads 0 before anything was measured
    /// would be taken for a measurement.
    private var testAccuracy: Gauge?
    private var testLoss: Gauge?
    private let bitReproducible: Gauge
    private let examples: Counter
    private let lostWorkers: Counter
    private let shardMoves: Counter
    private let backups: Counter
    private let rejectedMessages: Counter
    private let bytesSent: Counter
    private let bytesReceived: Counter
    private let bytesReceivedShared: Counter
    /// With `--reducers`: the gradient bytes each range's owner took, made at the first report.
    private var reducerBytes: [Counter] = []
    private let phases: [(KeyPath<StepTimings, Double>, DurationHistogram)]
    private var lastLost = 0
    private var lastMoves = 0
    private var lastBackups = 0
    private var lastRejected = 0

    static let phaseBuckets: [Duration] = [
        .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]

    init() {
        step = registry.makeGauge(descriptor: Self.name("descent_step", "The last step completed."))
        epoch = registry.makeGauge(descriptor: Self.name("descent_epoch", "The epoch of the last step (1-based)."))
        loss = registry.makeGauge(
            descriptor: Self.name("descent_loss", "The last step's training loss (mean over its batch)."))
        accuracy = registry.makeGauge(
            descriptor: Self.name("descent_train_accuracy", "The last step's training accuracy on its batch."))
        examplesPerSecond = registry.makeGauge(
            descriptor: Self.name("descent_examples_per_second", "Training examples per second over the last step."))
        workersAlive = registry.makeGauge(
            descriptor: Self.name("descent_workers_alive", "Workers that computed the last step."))
        bitReproducible = registry.makeGauge(
            descriptor: Self.name(
                "descent_bit_reproducible", "1 while every process computes alike (bit-reproducible run), else 0."))
        examples = registry.makeCounter(descriptor: Self.name("descent_examples_total", "Training examples processed."))
        lostWorkers = registry.makeCounter(
            descriptor: Self.name("descent_workers_lost_total", "Workers declared lost (silent or gone)."))
        shardMoves = registry.makeCounter(
            descriptor: Self.name("descent_shard_moves_total", "Shards moved from one worker to another."))
        backups = registry.makeCounter(
            descriptor: Self.name("descent_backup_shards_total", "Shards also asked of a backup worker."))
        rejectedMessages = registry.makeCounter(
            descriptor: Self.name(
                "descent_rejected_messages_total", "Messages from workers refused as malformed or bad."))
        bytesSent = registry.makeCounter(
            descriptor: Self.name("descent_bytes_sent_total", "Bytes the coordinator sent to workers."))
        bytesReceived = registry.makeCounter(
            descriptor: Self.name("descent_bytes_received_total", "Bytes the coordinator received from workers."))
        bytesReceivedShared = registry.makeCounter(
            descriptor: Self.name(
                "descent_bytes_received_shared_total", "Of the bytes received, those that came through shared memory."))
        let phaseName = Self.name("descent_step_phase_seconds", "Seconds each phase of a step took, by phase.")
        phases = [
            (\.compute, "compute"), (\.computeSlowest, "compute_slowest"), (\.send, "send"), (\.wait, "wait"),
            (\.reduce, "reduce"), (\.update, "update"), (\.total, "step"),
        ].map { [registry] in
            (
                $0.0,
                registry.makeDurationHistogram(
                    descriptor: phaseName, labels: [("phase", $0.1)], buckets: Self.phaseBuckets)
            )
        }
    }

    /// A metric's full name and its `# HELP` text.
    private static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The kernel the run computes with, as an info metric (value 1); once, at the start.
    func record(arithmetic: RunArithmetic) {
        registry.makeGauge(
            descriptor: Self.name(
                "descent_arithmetic_info", "The BLAS kernel and threads every process computes with (value 1)."),
            labels: [("blas_kernel", arithmetic.kernel), ("blas_threads", "\(arithmetic.profile.threads)")]
        ).set(to: 1)
    }

    /// Whether the run is still bit-reproducible (1), or admitted a worker that computes otherwise (0).
    func record(bitReproducible reproducible: Bool) {
        bitReproducible.set(to: reproducible ? 1 : 0)
    }

    /// `bytesReceivedShared`: of the step's bytes received, those that came through shared memory.
    func record(_ report: StepReport, bytesReceivedShared shared: Int) {
        history.record(report)
        inProcessStatus?.update {
            $0.state = "training"
            $0.step = report.step
        }
        step.set(Double(report.step))
        epoch.set(Double(report.epoch))
        loss.set(report.loss)
        accuracy.set(report.accuracy)
        examplesPerSecond.set(report.examplesPerSecond)
        workersAlive.set(Double(report.workers))
        examples.increment(by: Int64(report.examples))
        let t = report.timings
        bytesSent.increment(by: Int64(t.bytesSent))
        bytesReceived.increment(by: Int64(t.bytesReceived))
        bytesReceivedShared.increment(by: Int64(shared))
        if reducerBytes.count < t.reducerBytesReceived.count {
            reducerBytes = t.reducerBytesReceived.indices.map { [registry] range in
                registry.makeCounter(
                    descriptor: Self.name(
                        "descent_reducer_bytes_received_total",
                        "Gradient bytes each range's owner took (--reducers), range 0 the coordinator's."),
                    labels: [("range", "\(range)")])
            }
        }
        for (counter, bytes) in zip(reducerBytes, t.reducerBytesReceived) { counter.increment(by: Int64(bytes)) }
        lostWorkers.increment(by: Int64(max(0, t.lostWorkers - lastLost)))
        rejectedMessages.increment(by: Int64(max(0, t.rejectedMessages - lastRejected)))
        lastLost = t.lostWorkers
        shardMoves.increment(by: Int64(max(0, t.shardMoves - lastMoves)))
        lastMoves = t.shardMoves
        backups.increment(by: Int64(max(0, t.backups - lastBackups)))
        lastBackups = t.backups
        lastRejected = t.rejectedMessages
        for (path, histogram) in phases { histogram.record(.nanoseconds(Int64((t[keyPath: path] * 1e9).rounded()))) }
    }

    func record(_ report: EvaluationReport) {
        history.record(report)
        if testAccuracy == nil {
            testAccuracy = registry.makeGauge(
                descriptor: Self.name("descent_test_accuracy", "Accuracy on the test set at the last evaluation."))
            testLoss = registry.makeGauge(
                descriptor: Self.name("descent_test_loss", "Loss on the test set at the last evaluation."))
        }
        testAccuracy?.set(report.result.accuracy)
        testLoss?.set(report.result.loss)
    }
}
