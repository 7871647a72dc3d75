import Core
import Foundation
import Logging

/// A training run with everything validated up front: no file is written until the data, model
/// and flags are known to fit together.
struct TrainingJob {
    let options: TrainingOptions
    let train: Dataset
    let test: Dataset?
    /// The statistics `train` and `test` were standardized with, stored with the weights.
    let standardization: Standardization?
    /// What `prepare` found worth saying, logged before training.
    let notices: [JobNotice]
    let initial: ParameterBuffer?
    let out: String
    let metricsPath: String?
    let plotPath: String?
    /// `--tensorboard`: where each run's event directory goes.
    let tensorboardRoot: String?
    /// Prometheus figures and the live page's history, when `--metrics-port` serves them.
    var liveMetrics: TrainingMetrics?
    let showProgress: Bool
    let expectedWorkers: Int
    let checkpointDirectory: String?
    let checkpointEvery: Int
    let resume: String?
    /// What a checkpoint must agree with to continue this run (`Checkpoint.runKeys`).
    let run: [String: String]
    /// The kernel and profile the run computes with, recorded in every file it writes.
    var arithmetic: RunArithmetic = .current(threads: 1)
    /// What a model records of where it came from, beside `run` (see `modelMetadata`).
    var origin: [String: String] = [:]
    /// The settings a checkpoint records for `--resume` to restore (`ResumeSettings`).
    var settings: [String: String] = [:]

    static func prepare(_ command: TrainCommand) throws -> TrainingJob {
        let initial = try command.`init`.map(ModelFile.load)
        let activation = try activation(command, initial: initial)
        var notices: [JobNotice] = []
        let trainSpec = try DatasetSpec(parsing: command.dataset)
        let (shape, train) = try shapeAndTrainingData(
            command, spec: trainSpec, initial: initial, activation: activation, notices: &notices)
        let test = try testData(command, trainSpec: trainSpec, shape: shape, notices: &notices)
        // Of the data as read, before standardization changes it in place.
        let fingerprint = train.fingerprint
        let standardization = try standardize(
            command, initial: initial, train: train, test: test, notices: &notices)
        var options = try trainingOptions(command, shape: shape)
        // Before the network's buffers are allocated.
        try MemoryEstimate(shape: shape, batch: options.batch, optimizer: options.optimizer.kind).check()

        if command.shards == .auto {
            options.shards = automaticShards(command, options: options, examples: train.count)
        }
        let plan = try ShardPlan(exampleCount: train.count, shards: options.shards)
        let stepsPerEpoch = try BatchSchedule(plan: plan, batch: options.batch, seed: options.seed).stepsPerEpoch
        options.schedule = try schedule(command, totalSteps: options.steps ?? options.epochs * stepsPerEpoch)
        try checkWritable(command.out, flag: "--out")
        if let metrics = command.metrics { try checkWritable(metrics, flag: "--metrics") }
        if let plot = command.plot { try checkWritable(plot, flag: "--plot") }
        if let tensorboard = command.tensorboard { try TensorBoardLog.prepare(root: tensorboard) }
        let checkpointDirectory = try checkpointPlace(command)
        let run = runKeys(options: options, examples: train.count, standardized: standardization != nil)
        var job = TrainingJob(
            options: options, train: train, test: test, standardization: standardization, notices: notices,
            initial: initial?.parameters, out: command.out,
            metricsPath: command.metrics, plotPath: command.plot, tensorboardRoot: command.tensorboard,
            liveMetrics: nil, showProgress: !command.quiet,
            expectedWorkers: command.workerCount,
            checkpointDirectory: checkpointDirectory,
            checkpointEvery: command.checkpointEvery, resume: command.resume, run: run)
        job.origin = origin(command, options: options, train: train, fingerprint: fingerprint, test: test)
        job.settings = ResumeSettings.record(command)
        return job
    }

    /// Where a model comes from, beyond the run's keys: the data, its fingerprint, the version.
    private static func origin(
        _ command: TrainCommand, options: TrainingOptions, train: Dataset, fingerprint: String, test: Dataset?
    ) -> [String: String] {
        var origin = [
            "descent_version": DescentVersion.text, "data": train.source, "data_fingerprint": fingerprint,
            "lr_schedule": command.lrSchedule, "seed": "\(options.seed)",
        ]
        if let steps = command.steps { origin["steps"] = "\(steps)" } else { origin["epochs"] = "\(command.epochs)" }
        if let test { origin["test_data"] = test.source }
        return origin
    }

    /// What a checkpoint must agree with to continue this run (`Checkpoint.runKeys`).
    private static func runKeys(options: TrainingOptions, examples: Int, standardized: Bool) -> [String: String] {
        let shape = options.shape
        var run: [String: String] = [
            "layers": shape.layersText, "activation": shape.activation.rawValue,
            "optimizer": options.optimizer.kind.rawValue,
            "lr": "\(options.learningRate)", "batch": "\(options.batch)", "shards": "\(options.shards)",
            "seed": "\(options.seed)", "examples": "\(examples)", "momentum": "\(options.optimizer.momentum)",
            "weight_decay": "\(options.optimizer.weightDecay)", "schedule": "\(options.schedule)",
        ]
        // Only a standardized run has the key, so that older checkpoints still resume.
        if standardized { run["standardize"] = "true" }
        return run
    }

    /// The training options the flags give, but the learning-rate schedule (it needs the step count).
    private static func trainingOptions(_ command: TrainCommand, shape: NetworkShape) throws -> TrainingOptions {
        var options = TrainingOptions(shape: shape)
        guard let kind = OptimizerKind(rawValue: command.optimizer) else {
            throw ConfigurationError.invalid(
                field: "--optimizer", reason: "'\(command.optimizer)' is not one of sgd, momentum, adam")
        }
        options.optimizer = OptimizerSettings(kind: kind)
        options.optimizer.momentum = command.momentum ?? 0.9
        options.optimizer.weightDecay = command.weightDecay
        options.learningRate = command.lr
        options.batch = command.batch
        options.epochs = command.epochs
        options.steps = command.steps
        options.seed = command.seed
        if case .count(let count) = command.shards {
            options.shards = count
        } else {
            options.shards = command.workerCount
        }
        return options
    }

    private static func schedule(_ command: TrainCommand, totalSteps: Int) throws -> LearningRateSchedule {
        switch command.lrSchedule {
        case "constant": return .constant
        case "step":
            let every = command.lrDecayEpochs ?? 1
            guard every >= 1 else {
                throw ConfigurationError.invalid(field: "--lr-decay-epochs", reason: "must be at least 1")
            }
            return .step(everyEpochs: every, factor: command.lrDecayFactor ?? 0.1)
        case "cosine": return .cosine(totalSteps: totalSteps)
        default:
            throw ConfigurationError.invalid(
                field: "--lr-schedule", reason: "'\(command.lrSchedule)' is not one of constant, step, cosine")
        }
    }

    /// `--shards auto`: a resumed run's shard count (its bits depend on it), else
    /// `ShardPlan.automaticCount` for the batch and the workers (threads, in-process).
    private static func automaticShards(_ command: TrainCommand, options: TrainingOptions, examples: Int) -> Int {
        if let resume = command.resume, let name = try? Checkpoint.list(resume).last,
            let file = try? SafetensorsFile.read(from: PathName.join(resume, name)),
            let text = file.metadata["shards"], let count = Int(text)
        {
            return count
        }
        let perStep = options.batch == 0 ? examples : min(options.batch, examples)
        let workers = command.inProcess ? command.threads : command.workerCount
        return ShardPlan.automaticCount(examplesPerStep: perStep, exampleCount: examples, workers: workers)
    }

    /// `--checkpoint-dir`, else `--resume`: made if need be. A `--resume` directory must exist
    /// (a typo must not start a fresh run), unless `--checkpoint-dir` names it too: "continue if
    /// there is something to continue", what a restarted job wants.
    private static func checkpointPlace(_ command: TrainCommand) throws -> String? {
        guard let directory = command.checkpointDir ?? command.resume else { return nil }
        let flag = command.checkpointDir != nil ? "--checkpoint-dir" : "--resume"
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        if exists, !isDirectory.boolValue {
            throw ConfigurationError.invalid(field: flag, reason: "'\(directory)' is a file, not a directory")
        }
        if let resume = command.resume, !FileManager.default.fileExists(atPath: resume),
            command.checkpointDir.map({ Self.samePath($0, resume) }) != true
        {
            throw ConfigurationError.invalid(
                field: "--resume",
                reason:
                    "'\(resume)' does not exist (to start a run that checkpoints there and continues it when restarted, give --checkpoint-dir \(resume) --resume \(resume))"
            )
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError.invalid(field: flag, reason: "cannot create the directory '\(directory)'")
        }
        return directory
    }

    private static func samePath(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).standardizedFileURL.path == URL(fileURLWithPath: b).standardizedFileURL.path
    }

    /// Fails before training, not after it, when an output could never be written.
    private static func checkWritable(_ path: String, flag: String) throws {
        var pathIsDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &pathIsDirectory), pathIsDirectory.boolValue {
            throw ConfigurationError.invalid(field: flag, reason: "'\(path)' is a directory")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dir = directory.isEmpty ? "." : directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError.invalid(field: flag, reason: "directory '\(dir)' of '\(path)' does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw ConfigurationError.invalid(field: flag, reason: "directory '\(dir)' of '\(path)' is not writable")
        }
    }

    /// `bytesReceivedShared`: of the last step's bytes received, those that came through memory
    /// shared with local workers, for the metrics.
    /// `runner`: local workers that take spans of steps among themselves.
    func run(
        source: GradientSource, log: Logger, bytesReceivedShared: @escaping () -> Int = { 0 },
        runner: StepRunner? = nil
    ) throws {
        let trainer = try Trainer(
            options: options, exampleCount: train.count, source: source, testSet: test, initial: initial)
        trainer.runner = runner
        // A checkpoint's step ends a span: W, b and the moments are then the trainer's.
        let every = checkpointDirectory == nil ? 0 : checkpointEvery
        trainer.spanEnds = { every > 0 && $0 % every == 0 }
        try restore(trainer, log: log)
        liveMetrics?.record(arithmetic: arithmetic)
        liveMetrics?.history.start(totalSteps: trainer.totalSteps)
        let metrics = try metricsPath.map { try MetricsLog(path: $0, append: resume != nil) }
        let tensorboard = try tensorboardRoot.map { try TensorBoardLog(root: $0) }
        if let tensorboard { log.info("TensorBoard event files in \(tensorboard.directory)") }
        let logs: [any RunLog] = [metrics as (any RunLog)?, tensorboard].compactMap { $0 }
        let batchText = options.batch == 0 ? "full" : String(options.batch)
        log.info(
            """
            training \(options.shape) on \(train.source): \(train.count) examples, \(options.shards) shard(s), \
            batch \(batchText), \(trainer.totalSteps) steps
            """)
        let stepsPerEpoch = trainer.schedule.stepsPerEpoch
        let progress =
            showProgress
            ? ProgressLine(
                terminal: .standardError, totalSteps: trainer.totalSteps,
                epochs: (trainer.totalSteps + stepsPerEpoch - 1) / stepsPerEpoch, expectedWorkers: expectedWorkers)
            : nil
        defer { progress?.finish() }
        let summary: TrainingSummary
        do {
            summary = try train(
                trainer, source: source, logs: logs, progress: progress,
                bytesReceivedShared: bytesReceivedShared, log: log)
        } catch {
            stop(trainer, source: source, after: error, log: log)
            throw error
        }
        progress?.finish()
        source.shutdown(reason: "training finished", resumable: false)
        try ModelFile.save(
            trainer.parameters, to: out, step: trainer.step, extraMetadata: modelMetadata(source, tally: trainer.tally),
            standardization: standardization)
        if let plotPath, let metricsPath {
            try CurvePlot.write(metricsFiles: [metricsPath], to: plotPath)
            log.info("curves drawn in \(plotPath)")
        }
        RunEnding.printSummary(summaryLine(summary, ending: .completed, out: out))
    }

    /// How the files of this run were computed: the coordinator's arithmetic profile, on the run's
    /// kernel, and whether every worker computed alike (`bit_reproducible`).
    func provenance(_ source: GradientSource) -> [String: String] {
        var metadata = arithmetic.profile.metadata
        metadata["bit_reproducible"] = source.mixedArithmetic.isEmpty ? "true" : "false"
        if !source.mixedArithmetic.isEmpty {
            metadata["mixed_arithmetic_workers"] = source.mixedArithmetic.joined(separator: ",")
        }
        return metadata
    }

    /// What a model records: the run's settings (seed, optimizer and its settings, lr and schedule,
    /// batch, shards, epochs or steps), the data and its fingerprint, the Descent version, how it
    /// was computed, and the last test metrics.
    func modelMetadata(_ source: GradientSource, tally: RunTally) -> [String: String] {
        var metadata = run.merging(provenance(source)) { kept, _ in kept }.merging(origin) { kept, _ in kept }
        if let test = tally.test {
            metadata["test_accuracy"] = "\(test.accuracy)"
            metadata["test_loss"] = "\(test.loss)"
        }
        return metadata
    }

    /// What a checkpoint records: the run's keys and its provenance.
    func recorded(_ source: GradientSource) -> [String: String] {
        run.merging(provenance(source)) { kept, _ in kept }.merging(settings) { kept, _ in kept }
    }

    /// With `--resume`: the newest usable checkpoint, if any, into `trainer`.
    private func restore(_ trainer: Trainer, log: Logger) throws {
        guard let resume else { return }
        let found = try Checkpoint.newest(in: resume, run: run) { path, reason in
            log.warning("skipping checkpoint \(path): \(reason)")
        }
        if let found {
            if initial != nil { log.warning("--init is not used: the run continues from a checkpoint") }
            for key in Checkpoint.adjustableKeys where found.metadata[key] != run[key] {
                log.notice(
                    "--resume: \(key) changes from \(found.metadata[key] ?? "none") to \(run[key] ?? "none") at step \(found.step); from here on the run is not the bits of one never interrupted"
                )
            }
            guard found.standardization == standardization else {
                throw ConfigurationError.invalid(
                    field: "--resume",
                    reason:
                        "the checkpoint in \(resume) was standardized with other statistics than this training data's")
            }
            try trainer.restore(from: found)
            log.info("resumed from \(resume) at step \(found.step)")
        } else {
            log.warning("no usable checkpoint in \(resume): starting from step 0")
        }
    }

    /// Runs `trainer` to the end, reporting each step and evaluation.
    private func train(
        _ trainer: Trainer, source: GradientSource, logs: [any RunLog], progress: ProgressLine?,
        bytesReceivedShared: () -> Int,
        log: Logger
    ) throws -> TrainingSummary {
        var warnedOfLoss = false
        var judged: (loss: Double, examples: Int)? = (0, 0)
        return try trainer.run(
            onStep: { report in
                progress?.update(report)
                if !warnedOfLoss, let warning = earlyLossWarning(report) {
                    warnedOfLoss = true
                    log.warning("\(warning)")
                }
                // Steps 51–100: past the first moves, long enough to tell learning from chance.
                if let sum = judged, report.step > ChanceLoss.from {
                    judged = (sum.loss + report.loss * Double(report.examples), sum.examples + report.examples)
                    if report.step >= ChanceLoss.to {
                        judged = nil
                        let mean =
                            (sum.loss + report.loss * Double(report.examples)) / Double(sum.examples + report.examples)
                        if !warnedOfLoss, let warning = chanceLossWarning(mean: mean) { log.warning("\(warning)") }
                    }
                }
                // A step the local workers took among themselves received nothing, shared or not.
                let shared = min(bytesReceivedShared(), report.timings.bytesReceived)
                liveMetrics?.record(report, bytesReceivedShared: shared)
                liveMetrics?.record(bitReproducible: source.mixedArithmetic.isEmpty)
                for runLog in logs { try runLog.write(report, bytesReceivedShared: shared) }
                if let checkpointDirectory, checkpointEvery > 0, report.step % checkpointEvery == 0 {
                    try source.gatherOptimizerState(into: trainer.optimizer, step: trainer.step)
                    try source.gatherParameters(into: trainer.parameters, step: trainer.step)
                    try Checkpoint.save(
                        trainer, run: recorded(source), to: checkpointDirectory, standardization: standardization)
                }
                try Interruption.check()
                log.debug("step \(report.step) loss \(report.loss)")
            },
            onEvaluation: { report in
                progress?.evaluated(report)
                liveMetrics?.record(report)
                for runLog in logs { try runLog.write(report) }
                let accuracy = String(format: "%.4f", report.result.accuracy)
                let loss = String(format: "%.4f", report.result.loss)
                log.info("epoch \(report.epoch) step \(report.step): test accuracy \(accuracy), test loss \(loss)")
            })
    }
}
