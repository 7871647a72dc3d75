import ArgumentParser
import Core
import Logging

extension TrainCommand {
    /// Flags that cannot work together, refused before anything is read or written.
    func validate() throws {
        try validateLauncher()
        try validateModel()
        guard [workers != nil, localWorkers != nil, inProcess].filter({ $0 }).count == (launcher == .none ? 1 : 0)
        else {
            throw ValidationError("give exactly one of --workers, --local-workers, --in-process")
        }
        if inProcess, compress.isSixteenBit {
            throw ValidationError(
                "--compress \(compress.argument) rounds what workers send; --in-process sends nothing: "
                    + "drop --compress or use --local-workers")
        }
        if plot != nil, metrics == nil {
            throw ValidationError("--plot draws from the metrics: give --metrics FILE too")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be 0…65535, got \(metricsPort)")
        }
        guard metricsLinger >= 0, metricsLinger.isFinite else {
            throw ValidationError("--metrics-linger must be a number of seconds ≥ 0, got \(metricsLinger)")
        }
        if let n = workers ?? localWorkers, n < 1 {
            throw ValidationError("the worker count must be at least 1, got \(n)")
        }
        if let n = workers ?? localWorkers, minWorkers > n {
            throw ValidationError(
                "--min-workers \(minWorkers) is more than the \(n) worker(s) the run starts with: it could never train")
        }
        try validateSecurity()
        guard checkpointEvery >= 0 else {
            throw ValidationError("--checkpoint-every must be 0 or positive, got \(checkpointEvery)")
        }
        if checkpointEvery > 0, checkpointDir == nil, resume == nil {
            throw ValidationError("--checkpoint-every needs --checkpoint-dir")
        }
        try validatePool()
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        do {
            _ = try KernelChoice.Request(parsing: blasKernel)
        } catch {
            throw ValidationError("\(error)")
        }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard batch >= 0 else { throw ValidationError("--batch must be 0 (full batch) or positive, got \(batch)") }
        guard lr.isFinite, lr > 0 else { throw ValidationError("--lr must be a positive number, got \(lr)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'")
        }
    }

    /// CURVE's flags, and a bind other machines reach.
    private func validateSecurity() throws {
        guard (curveSecretKey == nil) == (authorizedKeys == nil) else {
            throw ValidationError("--curve-secret-key and --authorized-keys go together")
        }
        if curveSecretKey != nil, localWorkers != nil {
            throw ValidationError("--local-workers talk over a private local socket; CURVE is for --workers")
        }
        if let bind, curveSecretKey == nil, !insecure, !Exposure.isLocal(bind) {
            throw ValidationError(
                "--bind \(bind) is reachable from other machines: give --curve-secret-key and --authorized-keys, or --insecure to accept that anyone who can reach it may join"
            )
        }
    }

    /// `--launcher` decides who computes and where rank 0 listens; its companions need it.
    private func validateLauncher() throws {
        guard launcher != .none else {
            let companions = [
                ("--port", port != nil), ("--coordinator-host", coordinatorHost != nil),
                ("--worker-secret-key", workerSecretKey != nil), ("--server-public-key", serverPublicKey != nil),
            ]
            if let (flag, _) = companions.first(where: { $0.1 }) {
                throw ValidationError(
                    "\(flag) applies under --launcher only (--launcher auto reads the launcher's rank)")
            }
            return
        }
        if workers != nil || localWorkers != nil || inProcess || bind != nil {
            throw ValidationError(
                "--launcher decides who computes and where rank 0 listens: drop --workers, --local-workers, --in-process and --bind (--port and --coordinator-host set the endpoint)"
            )
        }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1…65535, got \(port)") }
        guard (workerSecretKey == nil) == (serverPublicKey == nil) else {
            throw ValidationError("--worker-secret-key and --server-public-key go together")
        }
        if curveSecretKey != nil, workerSecretKey == nil {
            throw ValidationError(
                "--launcher with CURVE: the worker ranks need --worker-secret-key and --server-public-key too")
        }
    }

    /// `--layers` or `--hidden`, not both; hidden sizes that are sizes.
    private func validateModel() throws {
        if hidden != nil, layers != nil {
            throw ValidationError(
                "give --layers n0,…,nL or --hidden n1,… (n0 and nL then come from the data), not both")
        }
        if let hidden {
            do {
                _ = try TrainingJob.hiddenSizes(hidden)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    /// The pool's numbers: fan-out, backup delay, timeouts.
    private func validatePool() throws {
        guard (1...64).contains(reducers) else {
            throw ValidationError("--reducers must be between 1 and 64, not \(reducers)")
        }
        if reducers > 1, inProcess {
            throw ValidationError("--reducers \(reducers) splits the work between processes; --in-process has one")
        }
        if reducers > 1, compress.isSixteenBit {
            throw ValidationError(
                "--reducers \(reducers) does not take 16-bit partials yet (each shard's rounding lives with its worker): drop --compress or --reducers"
            )
        }
        if broadcast == .reducers, reducers < 2 {
            throw ValidationError(
                "--broadcast reducers has the reducers send the parameters: give --reducers 2 or more")
        }
        guard (1...64).contains(relayFanout) else {
            throw ValidationError("--relay-fanout must be between 1 and 64, not \(relayFanout)")
        }
        guard backupAfter >= 0, backupAfter.isFinite else {
            throw ValidationError("--backup-after must be 0 (never) or a number of seconds, not \(backupAfter)")
        }
        guard registerTimeout > 0, workerTimeout > 0 else {
            throw ValidationError("--register-timeout and --worker-timeout must be positive")
        }
    }

    /// Flags given that change nothing in this setup: said, so that nobody believes they did.
    var idleFlagWarnings: [String] {
        var warnings: [String] = []
        if momentum != nil, optimizer != "momentum" {
            warnings.append("--momentum has no effect with --optimizer \(optimizer) (only with --optimizer momentum)")
        }
        if lrDecayEpochs != nil || lrDecayFactor != nil, lrSchedule != "step" {
            warnings.append(
                "--lr-decay-epochs and --lr-decay-factor have no effect with --lr-schedule \(lrSchedule) (only with step)"
            )
        }
        if metricsLinger != 0, metricsPort == nil {
            warnings.append("--metrics-linger has no effect without --metrics-port")
        }
        if inProcess, minWorkers != 1 { warnings.append("--min-workers has no effect with --in-process") }
        if broadcast == .direct, relayFanout != 2 {
            warnings.append("--relay-fanout has no effect with --broadcast direct")
        }
        return warnings
    }
}
