import ArgumentParser
import Core
import Foundation
import Logging
import Wire

/// `coordinator train`: the training command of the CLI contract (docs/CLI.md).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a dense network by gradient descent over sharded data.",
        discussion: """
            Exactly one of --workers, --local-workers, --in-process says who computes the shards' \
            gradients. The last line on stdout is a JSON summary.
            """
    )

    // MARK: Data and model
    @Option(
        help:
            "Training data: fashion-mnist (Debian's dataset-fashion-mnist), idx:DIR (IDX files, gzipped or not) or csv:FILE."
    )
    var dataset: String = "fashion-mnist"

    @Option(
        help:
            "Evaluated after every epoch and at the end; idx:DIR means its t10k- files (without them: a warning, and no test evaluation). Default: fashion-mnist's test split when training on fashion-mnist, else none."
    )
    var testDataset: String?

    @Option(
        help:
            "Layer sizes n0,n1,…,nL: n0 features, nL classes (nL = 1: sigmoid output with binary cross-entropy; nL ≥ 2: softmax with categorical cross-entropy). Default 784,256,128,10, or the --init model's."
    )
    var layers: String?

    @Option(
        help:
            "Hidden layer sizes n1,…: n0 is the data's feature count, nL its largest label + 1 (a softmax output; labels 0/1 give 2 units). Not with --layers."
    )
    var hidden: String?

    @Flag(
        help:
            "Scale each feature to mean 0 and std 1 with the training set's mean and std (stored in the model; evaluate and predict apply them, and the test data gets the training set's)."
    )
    var standardize = false

    @Option(
        help:
            "Hidden activation: relu, tanh, sigmoid, leaky-relu (slope 0.01 below zero). Default relu, or the --init model's."
    )
    var activation: String?

    @Option(help: "Start from these weights (safetensors) instead of a random initialisation.")
    var `init`: String?

    @Option(help: "Final weights, safetensors, written atomically.")
    var out: String = "model.safetensors"

    // MARK: Optimisation
    @Option(help: "sgd (W -= α·dW), momentum or adam.")
    var optimizer: String = "sgd"

    @Option(help: "Learning rate α.")
    var lr: Float = 0.1

    @Option(help: "Momentum μ for --optimizer momentum (v = μ·v + dW; W -= α·v). Default 0.9.")
    var momentum: Float?

    @Option(help: "L2 weight decay λ on the weights (dW += λ·W); biases are not decayed.")
    var weightDecay: Float = 0

    @Option(
        help:
            "Learning-rate schedule: constant, step (×--lr-decay-factor every --lr-decay-epochs epochs) or cosine (to 0 at the last step)."
    )
    var lrSchedule: String = "constant"

    @Option(help: "With --lr-schedule step: epochs between decays. Default 1.")
    var lrDecayEpochs: Int?

    @Option(help: "With --lr-schedule step: the factor γ applied at each decay. Default 0.1.")
    var lrDecayFactor: Float?

    @Option(help: "Global examples per step, split over the shards; 0 = full batch (all m examples every step).")
    var batch: Int = 128

    @Option(help: "Stop after E passes over the data.")
    var epochs: Int = 5

    @Option(help: "Stop after S steps (overrides --epochs).")
    var steps: Int?

    @Option(help: "Seed of all randomness (initialisation, shuffling).")
    var seed: UInt64 = 1

    // MARK: Who computes
    @Option(help: "Wait for N workers that connect themselves (`worker --connect ENDPOINT`).")
    var workers: Int?

    @Option(help: "Start N worker processes on this machine over a local socket, and stop them at the end.")
    var localWorkers: Int?

    @Flag(help: "The reference path: the same shards and arithmetic, computed in this process with no workers.")
    var inProcess = false

    @Option(
        help: ArgumentHelp(
            "The data is cut into K contiguous shards, the unit of work and of reduction (added by a fixed pairwise tree over shard indices). Default: the worker count (1 in-process). auto: 4 per worker, each at least 32 examples a step, so that placement by speed can balance (a resumed run keeps its checkpoint's K).",
            valueName: "K|auto"))
    var shards: ShardCount?

    @Option(
        help:
            "BLAS threads per process (workers get the same). In-process with --shards 2 or more: threads computing shards side by side, with the bits of one thread."
    )
    var threads: Int = 1

    @Option(
        help: """
            The BLAS kernel every process computes with (auto, or e.g. Haswell, SkylakeX): one kernel, so \
            the bits do not depend on which CPU computed a shard. auto: the best this CPU's features run. \
            Workers on another kernel switch to it; one that cannot is refused.
            """)
    var blasKernel = "auto"

    @Flag(
        help: """
            Admit workers that cannot compute with the run's kernel or architecture anyway; the run is \
            then marked not bit-reproducible (log, metrics, model metadata).
            """)
    var allowMixedArithmetic = false

    @Option(
        help:
            "Workers send their partial gradients as none (Float32), fp16 or bf16: half the bytes, but lossy. Each worker keeps every shard's rounding error and adds it to the next step (error feedback). Off by default; a compressed run is deterministic but not bit-identical to an uncompressed one. Not with --in-process, which sends nothing."
    )
    var compress: GradientEncoding = .float32

    @Option(
        help: """
            How each step's parameters reach the workers. direct: the coordinator sends each worker \
            them whole. tree: workers started with --relay pass them on down a fixed tree, so the \
            coordinator sends one copy a step. auto: the tree once two or more workers offer a relay.
            """)
    var broadcast: BroadcastMode = .auto

    @Option(help: "In the broadcast tree, how many workers each relay passes the parameters on to.")
    var relayFanout: Int = 2

    @Option(
        help: """
            Sum and update the parameters in S ranges: the coordinator one, S − 1 reducers the others \
            (workers send each range's share of their gradients to its reducer). With --local-workers \
            the coordinator starts the reducers beside itself; with --workers each is a `worker \
            --reduce-at tcp://ADDRESS:PORT` that connects like a worker. The same bits as 1.
            """)
    var reducers: Int = 1

    @Option(
        help:
            "ZeroMQ endpoint the coordinator listens on. Default tcp://127.0.0.1:5555; with --local-workers, a private ipc:// socket."
    )
    var bind: String?

    @Option(help: "CURVE: the coordinator's secret key file (from `coordinator keygen`); encrypts all traffic.")
    var curveSecretKey: String?

    @Option(help: "CURVE: a directory of the workers' public keys (*.pub); only they may connect.")
    var authorizedKeys: String?

    @Flag(
        inversion: .prefixedNo, exclusivity: .chooseLast,
        help: "Allow a non-loopback --bind without CURVE (anyone who can reach the port can join).")
    var insecure = false

    @Option(help: "Seconds to wait for --workers/--local-workers to register.")
    var registerTimeout: Double = 60

    @Option(help: "A worker silent this many seconds is declared lost; its shards move to the survivors.")
    var workerTimeout: Double = 10

    @Flag(
        inversion: .prefixedNo, exclusivity: .chooseLast,
        help:
            "--local-workers take spans of steps among themselves in shared memory, with the same bits; --no-local-steps: every step through messages."
    )
    var localSteps = true

    @Option(
        help: ArgumentHelp(
            "Backup computation: a step that waits this many seconds (and 4 usual steps) for a partial has the coordinator compute the shard itself, with the same bits; 0: never.",
            valueName: "seconds"))
    var backupAfter: Double = 0.25

    @Option(
        help:
            "Go on while at least N workers remain; below that, wait --register-timeout for joiners, then checkpoint and stop."
    )
    var minWorkers: Int = 1

    // MARK: Launchers
    @Option(
        help: """
            Started by a launcher (torchrun, mpirun, srun, a Kubernetes Indexed Job): read the rank \
            and world size from its environment; rank 0 trains as the coordinator of WORLD_SIZE − 1 \
            workers, every other rank becomes a worker. auto: detect it. none: not launched.
            """)
    var launcher: LauncherKind = .none

    @Option(help: "With --launcher: the port rank 0 listens on (default: the launcher's, else 5555).")
    var port: Int?

    @Option(help: "With --launcher: rank 0's host, where the launcher names none (mpirun across nodes).")
    var coordinatorHost: String?

    @Option(help: "With --launcher and CURVE: the secret key file the worker ranks use.")
    var workerSecretKey: String?

    @Option(help: "With --launcher and CURVE: the coordinator's public key file, for the worker ranks.")
    var serverPublicKey: String?

    // MARK: Output
    @Option(help: "Metrics as JSON lines: one per step and one per evaluation.")
    var metrics: String?

    @Option(
        help: "Write checkpoints (W, b, optimizer state, step) into this directory, atomically, keeping the last 3.")
    var checkpointDir: String?

    @Option(help: "Steps between checkpoints (0: only on SIGINT/SIGTERM and on failure).")
    var checkpointEvery: Int = 0

    @Option(
        help:
            "Continue from the newest valid checkpoint in DIR (a damaged one is skipped for the one before); checkpoints go on into DIR unless --checkpoint-dir says otherwise."
    )
    var resume: String?

    @Option(
        help: "Serve Prometheus metrics at http://HOST:P/metrics, a live page at / (0: any free port, logged).")
    var metricsPort: Int?

    @Option(help: "Address the metrics endpoint listens on (0.0.0.0 to let a Prometheus on another host scrape it).")
    var metricsHost: String = "127.0.0.1"

    @Option(
        help:
            "With --metrics-port: keep the endpoint up this many seconds after the run ends, so that its last figures are scraped (Ctrl-C ends the wait)."
    )
    var metricsLinger: Double = 0

    @Option(help: "Draw the loss and accuracy curves as SVG into this file at the end (needs --metrics).")
    var plot: String?

    @Option(
        help: """
            TensorBoard event files (train loss, accuracy, learning rate, examples/s by step; each \
            evaluation's test loss and accuracy) in a run directory of their own under DIR: \
            `tensorboard --logdir DIR`.
            """)
    var tensorboard: String?

    @Option(
        help:
            "A YAML file of train flags (keys without dashes: `lr: 0.05`, `local-workers: 2`, `in-process: true`); flags on the command line override it."
    )
    var config: String?

    @Flag(help: "Print the effective settings as YAML (a config that reproduces this run) and exit.")
    var printConfig = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(
        inversion: .prefixedNo, exclusivity: .chooseLast,
        help: "No progress line and only warnings and errors on stderr; the summary still ends stdout.")
    var quiet = false

    func run() throws {
        if printConfig {
            print(effectiveConfig)
            return
        }
        let level = quiet ? .warning : Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in TerminalLogHandler(label: label, logLevel: level) }
        let log = Logger(label: "descent.coordinator")
        // Under a launcher, a rank other than 0 becomes a worker here.
        let command = launcher == .none ? self : try launchedRole(log: log)
        try command.runAsCoordinator(log: log)
    }

    private func runAsCoordinator(log: Logger) throws {
        var notices: [String] = []
        let arithmetic = try RunArithmetic.choose(
            try KernelChoice.Request(parsing: blasKernel), threads: threads, allowMixed: allowMixedArithmetic,
            recorded: resume.flatMap(RunArithmetic.checkpointKernel(in:))
        ) { notices.append($0) }
        for warning in idleFlagWarnings { log.warning("\(warning)") }
        let adopted = ResumeSettings.adopted.withLock { $0 }
        if !adopted.isEmpty {
            log.info(
                "--resume: the checkpoint's settings where the command line gives none: \(adopted.joined(separator: " "))"
            )
        }
        BLAS.setThreads(threads)
        AllocatorTuning.keepMessageBuffersOnHeap()

        Interruption.install()
        do {
            try train(arithmetic: arithmetic, notices: notices, log: log)
        } catch CoordinatorError.interrupted(let signal) {
            RunEnding.printSummary(before: CoordinatorError.interrupted(signal: signal))
            FileHandle.standardError.write(Data("Error: interrupted by signal \(signal)\n".utf8))
            throw ExitCode(128 + signal)
        } catch {
            RunEnding.printSummary(before: error)
            throw error
        }
    }

    /// Trains once the data, model and flags are known to fit, saying first how it computes.
    private func train(arithmetic: RunArithmetic, notices: [String], log: Logger) throws {
        var job = try TrainingJob.prepare(self)
        job.arithmetic = arithmetic
        log.info("\(arithmetic.summary)")
        for notice in notices { log.warning("\(notice)") }
        for notice in job.notices { log.log(level: notice.level, "\(notice.text)") }
        let status = RunStatus()
        try KernelCheck.verify(
            shape: job.options.shape, columns: min(64, job.train.count), kernel: arithmetic.kernel)
        var endpoint: MetricsEndpoint?
        if let metricsPort {
            let live = TrainingMetrics()
            if inProcess { live.inProcessStatus = status }
            endpoint = try MetricsEndpoint(
                host: metricsHost, port: metricsPort, registry: live.registry, status: status, history: live.history)
            job.liveMetrics = live
            log.info(
                """
                Prometheus metrics at http://\(metricsHost):\(endpoint!.port)/metrics, the run's state at /status, \
                the live page at http://\(metricsHost):\(endpoint!.port)/
                """)
        }
        defer {
            if let endpoint {
                Self.linger(endpoint, seconds: metricsLinger, status: status, log: log)
                endpoint.stop()
            }
        }
        let plan = try ShardPlan(exampleCount: job.train.count, shards: job.options.shards)
        let layout = ParameterLayout(shape: job.options.shape)
        if inProcess {
            let source = InProcessGradients(dataset: job.train, plan: plan, layout: layout, threads: threads)
            // T threads over T or more shards: each computes whole shards, its gemms on one thread.
            if source.computesShardsInParallel { BLAS.setThreads(1) }
            try job.run(source: source, log: log)
            return
        }
        try runDistributed(job, plan: plan, layout: layout, status: status, log: log)
    }

    /// `--metrics-linger`: the endpoint stays up after the run, its last figures in place, until
    /// the time is up or a signal comes.
    private static func linger(_ endpoint: MetricsEndpoint, seconds: Double, status: RunStatus, log: Logger) {
        status.update { $0.state = "ended" }
        guard seconds > 0, !Interruption.received else { return }
        log.info("the metrics endpoint stays up for \(seconds) s (--metrics-linger)")
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline, !Interruption.received { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// The workers' count, as the default shard count.
    var workerCount: Int { workers ?? localWorkers ?? 1 }
}
