import Foundation

extension TrainCommand {
    enum ConfigKind { case option, flag }

    /// Every flag of `train` that a config file may set.
    static let configKeys: [String: ConfigKind] = {
        var keys: [String: ConfigKind] = [:]
        for key in [
            "dataset", "test-dataset", "layers", "hidden", "activation", "init", "out", "optimizer", "lr", "momentum",
            "weight-decay", "lr-schedule", "lr-decay-epochs", "lr-decay-factor", "batch", "epochs", "steps", "seed",
            "workers", "local-workers", "shards", "threads", "compress", "bind", "curve-secret-key", "authorized-keys",
            "register-timeout", "worker-timeout", "backup-after", "broadcast", "relay-fanout", "reducers",
            "min-workers",
            "metrics",
            "checkpoint-dir",
            "checkpoint-every",
            "resume", "metrics-port", "metrics-host", "metrics-linger", "log-level", "plot", "tensorboard",
            "blas-kernel", "launcher",
            "port", "coordinator-host", "worker-secret-key",
            "server-public-key",
        ] { keys[key] = .option }
        for key in ["in-process", "insecure", "quiet", "allow-mixed-arithmetic", "standardize", "local-steps"] {
            keys[key] = .flag
        }
        return keys
    }()

    /// The effective settings, one `key: value` per line: a config file that reproduces this run.
    var effectiveConfig: String {
        let values: [(String, String?)] = [
            ("dataset", dataset), ("test-dataset", testDataset), ("layers", layers), ("hidden", hidden),
            ("standardize", "\(standardize)"), ("activation", activation),
            ("init", `init`), ("out", out), ("optimizer", optimizer), ("lr", "\(lr)"),
            ("momentum", momentum.map { "\($0)" }),
            ("weight-decay", "\(weightDecay)"), ("lr-schedule", lrSchedule),
            ("lr-decay-epochs", lrDecayEpochs.map(String.init)),
            ("lr-decay-factor", lrDecayFactor.map { "\($0)" }), ("batch", "\(batch)"), ("epochs", "\(epochs)"),
            ("steps", steps.map(String.init)), ("seed", "\(seed)"), ("workers", workers.map(String.init)),
            ("local-workers", localWorkers.map(String.init)), ("in-process", "\(inProcess)"),
            ("shards", shards?.argument), ("threads", "\(threads)"), ("blas-kernel", blasKernel),
            ("allow-mixed-arithmetic", "\(allowMixedArithmetic)"), ("compress", compress.argument),
            ("bind", bind),
            ("curve-secret-key", curveSecretKey), ("authorized-keys", authorizedKeys), ("insecure", "\(insecure)"),
            ("register-timeout", "\(registerTimeout)"), ("worker-timeout", "\(workerTimeout)"),
            ("local-steps", "\(localSteps)"),
            ("backup-after", "\(backupAfter)"), ("broadcast", broadcast.rawValue), ("relay-fanout", "\(relayFanout)"),
            ("reducers", "\(reducers)"),
            ("min-workers", "\(minWorkers)"), ("metrics", metrics), ("checkpoint-dir", checkpointDir),
            ("checkpoint-every", "\(checkpointEvery)"), ("resume", resume),
            ("metrics-port", metricsPort.map(String.init)),
            ("metrics-host", metricsHost), ("metrics-linger", "\(metricsLinger)"), ("log-level", logLevel),
            ("quiet", "\(quiet)"), ("plot", plot),
            ("tensorboard", tensorboard), ("launcher", launcher.rawValue), ("port", port.map(String.init)),
            ("coordinator-host", coordinatorHost), ("worker-secret-key", workerSecretKey),
            ("server-public-key", serverPublicKey),
        ]
        var lines = config.map { ["# effective settings; --config \($0) with the command line's flags over it"] } ?? []
        for (key, value) in values {
            guard let value else { continue }
            let needsQuotes =
                value.isEmpty || value.contains(where: { ":#{}[],&*!|>'\"%@`".contains($0) }) || value.first == " "
            lines.append(
                "\(key): " + (needsQuotes ? "'" + value.replacingOccurrences(of: "'", with: "''") + "'" : value))
        }
        return lines.joined(separator: "\n")
    }
}
