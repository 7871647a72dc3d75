import Core
import Foundation
import Logging
import Wire

/// With `--workers` or `--local-workers`: the coordinator's socket, its security, the local
/// workers, and the pool that serves the trainer.
extension TrainCommand {
    func runDistributed(
        _ job: TrainingJob, plan: ShardPlan, layout: ParameterLayout, status: RunStatus, log: Logger
    ) throws {
        let (endpoint, socketDirectory) = try listeningEndpoint()
        defer { if let socketDirectory { try? FileManager.default.removeItem(atPath: socketDirectory) } }
        var options = transportOptions(layout: layout)
        let authenticator = try curveAuthenticator(options: &options, log: log)
        defer { authenticator?.stop() }
        let socket = try ZeroMQTransport.bind(endpoint, options: options)
        let transport = sharingMemory(over: socket, endpoint: endpoint, options: options, layout: layout)
        let listening = transport.boundEndpoint ?? endpoint
        log.info("listening on \(listening)")
        if compress.isSixteenBit {
            log.notice(
                """
                --compress \(compress.argument): partials travel as \(compress) with error feedback; \
                the result is not bit-identical to an uncompressed run
                """)
        }
        let local = try localWorkers.map {
            try LocalWorkers(
                count: $0, endpoint: listening,
                reducerEndpoints: (1..<reducers).map { rank in
                    socketDirectory.map { "ipc://\($0)/reducer-\(rank).sock" } ?? "tcp://127.0.0.1:*"
                }, logLevel: quiet ? "warning" : logLevel, log: log)
        }
        // Workers told goodbye leave at once; the grace only bounds a worker that missed it.
        defer { local?.stop(grace: .seconds(2)) }
        let settings = PoolSettings(
            expectedWorkers: workerCount, minWorkers: minWorkers, registerTimeout: .seconds(registerTimeout),
            workerTimeout: .seconds(workerTimeout), threads: threads, seed: job.options.seed, compress: compress,
            arithmetic: job.arithmetic, backupAfter: backupAfter > 0 ? .seconds(backupAfter) : nil,
            broadcast: broadcast, relayFanout: relayFanout, reducers: reducers, optimizer: job.options.optimizer,
            rankedNames: local?.workerNames ?? [])
        let pool = WorkerPool(
            transport: transport, settings: settings, layout: layout, plan: plan, supervisor: local, status: status,
            log: log)
        do {
            try pool.start(dataset: job.train)
        } catch {
            pool.shutdown(reason: "the coordinator could not start: \(error)", resumable: false)
            throw error
        }
        // Not where DESCENT_FAULTS injects faults into the workers' messages (tests that need
        // them); its delays, which hold steps back, apply to spans too.
        let faults = ProcessInfo.processInfo.environment["DESCENT_FAULTS"] ?? ""
        let onlyDelays = faults.split(separator: ",").allSatisfy { $0.hasPrefix("delay@") }
        let runner =
            local != nil && localSteps && reducers == 1 && compress == .float32 && onlyDelays
            ? LocalStepRunner(pool: pool, options: job.options, exampleCount: job.train.count, log: log) : nil
        try job.run(
            source: pool, log: log, bytesReceivedShared: { pool.lastStepBytesReceivedShared }, runner: runner)
    }

    /// `socket`, with memory shared over it where its workers are on this machine: gradients
    /// through rings, PARAMS on a board.
    private func sharingMemory(
        over socket: ZeroMQTransport, endpoint: String, options: ZeroMQOptions, layout: ParameterLayout
    ) -> any CoordinatorTransport {
        guard SharedMemoryTransport.applies(to: endpoint, encrypted: options.curve != nil) else { return socket }
        return SharedMemoryRouter(over: socket, parameterCount: layout.count, maxFrameBytes: options.maxMessageBytes)
    }

    /// `--bind`, else a private ipc:// socket in a directory of its own for `--local-workers`
    /// (returned too, to be removed at the end), else the default TCP port.
    private func listeningEndpoint() throws -> (endpoint: String, socketDirectory: String?) {
        if let bind { return (try HostName.resolvingEndpoint(bind, for: "--bind"), nil) }
        guard localWorkers != nil else { return ("tcp://127.0.0.1:5555", nil) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("descent-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return ("ipc://\(directory)/coordinator.sock", directory)
    }

    private func transportOptions(layout: ParameterLayout) -> ZeroMQOptions {
        var options = ZeroMQOptions()
        // Closing must not drop the goodbyes just sent: give them a second to leave.
        options.lingerMilliseconds = 1000
        // A short queue per worker: shard chunks are sent a window at a time (`ShardSender`).
        options.sendHighWaterMark = ShardSender.window
        // The largest frame a worker sends is a PARTIAL's (or its first part).
        let largest = 64 + 4 * layout.count
        options.maxMessageBytes = ZeroMQOptions.frameLimit(payload: min(WireProtocol.maxFramePayload, largest))
        options.maxFramesPerMessage = largest / WireProtocol.maxFramePayload + 1
        return options
    }

    /// With `--curve-secret-key`: CURVE on `options`, and the authenticator that admits only the
    /// authorized keys (to be stopped at the end). Without it, a warning when anyone may connect.
    private func curveAuthenticator(options: inout ZeroMQOptions, log: Logger) throws -> ZeroMQAuthenticator? {
        guard let curveSecretKey, let authorizedKeys else {
            if let bind, !Exposure.isLocal(bind) {
                log.warning(
                    "--insecure: \(bind) accepts unauthenticated, unencrypted connections from anyone who can reach it")
            }
            return nil
        }
        let keys = try CurveKeyFile.readSecretKey(curveSecretKey)
        let allowed = try CurveKeyFile.readAuthorizedKeys(authorizedKeys)
        let authenticator = try ZeroMQAuthenticator(authorizedKeys: allowed) { decision in
            if decision.allowed {
                log.debug("CURVE: admitted key \(decision.publicKey) from \(decision.address)")
            } else {
                let key = decision.publicKey.isEmpty ? "(none)" : decision.publicKey
                log.warning("CURVE: refused a worker with key \(key) from \(decision.address)")
            }
        }
        options.curve = .server(secretKey: keys.secretKey)
        log.info("CURVE on: \(allowed.count) authorized worker key(s)")
        return authenticator
    }
}
