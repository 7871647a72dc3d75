import ArgumentParser
import Core
import Logging
import Wire

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `worker`: computes partial gradients for the shards a coordinator gives it.
@main
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Descent's worker: connects to a coordinator and computes its shards' partial gradients.",
        discussion:
            "Holds no dataset files: the coordinator sends the shards. Exits 0 when the coordinator says goodbye.",
        version: DescentVersion.text
    )

    @Option(help: "The coordinator's ZeroMQ endpoint, e.g. tcp://10.0.0.1:5555 (HOST:PORT means tcp://HOST:PORT).")
    var connect: String

    /// `--connect` with its scheme: a bare HOST:PORT is TCP.
    var endpoint: String { connect.contains("://") ? connect : "tcp://\(connect)" }

    @Option(help: "CURVE: this worker's secret key file (from `coordinator keygen`, mode 0600).")
    var curveSecretKey: String?

    @Option(help: "CURVE: the coordinator's public key file (its NAME.pub).")
    var serverPublicKey: String?

    @Option(help: "A name for logs (default host:pid).")
    var name: String?

    @Option(help: "Seconds to wait for the coordinator's welcome before giving up.")
    var registerTimeout: Double = 30

    @Option(
        help: """
            Seconds without a word from the coordinator before this worker gives up on it \
            (after 5 s it starts registering again, to rejoin a restarted coordinator).
            """)
    var reconnectTimeout: Double = 60

    @Option(
        help: """
            Take part in the broadcast tree: bind a relay inbox here (tcp://ADDRESS:PORT, the port may \
            be *) where another worker sends this one the parameters, which it forwards to the \
            workers the coordinator names. ADDRESS must be one the other workers can reach.
            """)
    var relay: String?

    @Option(
        help: """
            Serve as a reducer (`coordinator train --reducers`) instead of computing shards: take the \
            workers' pieces of one range of the parameters at this endpoint (tcp://ADDRESS:PORT, the port \
            may be *; or ipc://PATH), add them and update the range. ADDRESS must be one the workers can reach.
            """)
    var reduceAt: String?

    @Option(help: .hidden)
    var parentPid: Int32?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'")
        }
        guard (curveSecretKey == nil) == (serverPublicKey == nil) else {
            throw ValidationError("--curve-secret-key and --server-public-key go together")
        }
        guard registerTimeout > 0, reconnectTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        if endpoint.hasPrefix("tcp://"), endpoint.dropFirst(6).lastIndex(of: ":") == nil {
            throw ValidationError("--connect \(connect) names no port: give tcp://HOST:PORT")
        }
        if let relay { try Self.validate(relay: relay, connect: endpoint, encrypted: curveSecretKey != nil) }
        if let reduceAt {
            guard relay == nil else { throw ValidationError("--reduce-at and --relay go to different processes") }
            guard reduceAt.hasPrefix("tcp://") || reduceAt.hasPrefix("ipc://") else {
                throw ValidationError("--reduce-at takes a tcp:// or ipc:// endpoint; got '\(reduceAt)'")
            }
            let host = reduceAt.dropFirst("tcp://".count).split(separator: ":").first.map(String.init) ?? ""
            guard !reduceAt.hasPrefix("tcp://") || !["", "0.0.0.0", "[::]"].contains(host) else {
                throw ValidationError("--reduce-at needs the address workers reach this reducer at, not '\(host)'")
            }
        }
    }

    func run() throws {
        AllocatorTuning.keepMessageBuffersOnHeap()
        AllocatorTuning.shareOneHeap()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let workerName = name ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            handler.metadata["worker"] = "\(workerName)"
            return handler
        }
        var curve: CurveSecurity?
        if let curveSecretKey, let serverPublicKey {
            let keys = try CurveKeyFile.readSecretKey(curveSecretKey)
            curve = .client(
                secretKey: keys.secretKey, publicKey: keys.publicKey,
                serverPublicKey: try CurveKeyFile.readPublicKey(serverPublicKey))
        }
        if let reduceAt { return try runReducer(at: reduceAt, curve: curve, name: workerName) }
        let faults = try FaultPlan()
        var socket = try Self.connectTransport(endpoint, curve: curve)
        var relayEndpoint = ""
        if let relay, let coordinator = socket as? ZeroMQTransport {
            let dealer = try RelayDealer(over: coordinator, bind: relay)
            relayEndpoint = dealer.endpoint
            socket = dealer
            Logger(label: "descent.worker").info("relay inbox bound at \(relayEndpoint)")
        }
        let transport = faults.layer(over: socket, log: Logger(label: "descent.worker.faults"))
        do {
            let link = try CoordinatorLink(
                transport: transport, endpoint: endpoint, name: workerName, encrypted: curve != nil,
                registerTimeout: .seconds(registerTimeout), reconnectTimeout: .seconds(reconnectTimeout),
                parentPID: parentPid, relayEndpoint: relayEndpoint)
            let keys = try curveSecretKey.map { try CurveKeyFile.readSecretKey($0) }
            try WorkerLoop(
                link: link, relays: !relayEndpoint.isEmpty,
                curveKeys: keys.map { (publicKey: $0.publicKey, secretKey: $0.secretKey) },
                stepDelay: faults.delayMilliseconds(rank:), log: Logger(label: "descent.worker")
            ).run()
        } catch WorkerError.switchKernel(let kernel) {
            transport.close()
            Logger(label: "descent.worker").info(
                "the run computes with BLAS kernel \(kernel), this worker with \(BLAS.kernelName): switching")
            try KernelAlignment.ensure(kernel)
            throw WorkerError.switchKernel(kernel)
        }
    }

    /// `--reduce-at`: a reducer's DEALER to the coordinator (no shared memory: a reducer holds no
    /// shards and takes no PARAMS), its inbox for the workers' pieces, and the reducer's loop.
    private func runReducer(at address: String, curve: CurveSecurity?, name: String) throws {
        var options = ZeroMQOptions()
        options.curve = curve
        // Its state comes in a few frame-sized pieces at the first step.
        options.receiveHighWaterMark = 64
        let socket = try ZeroMQTransport.connect(endpoint, options: options)
        let dealer = try ReducerDealer(over: socket, bind: address, curve: curve)
        let log = Logger(label: "descent.reducer")
        log.info("reducer inbox bound at \(dealer.endpoint)")
        let link = try CoordinatorLink(
            transport: dealer, endpoint: endpoint, name: name, encrypted: curve != nil,
            registerTimeout: .seconds(registerTimeout), reconnectTimeout: .seconds(reconnectTimeout),
            parentPID: parentPid, reducerEndpoint: dealer.endpoint, reducerPublicKey: dealer.publicKey)
        try ReducerLoop(link: link, dealer: dealer, log: log).run()
    }

    /// What `--relay` must be: a tcp:// endpoint with an address other workers can reach, on a
    /// worker connected over tcp:// without CURVE.
    private static func validate(relay: String, connect: String, encrypted: Bool) throws {
        guard relay.hasPrefix("tcp://"), connect.hasPrefix("tcp://") else {
            throw ValidationError(
                "--relay takes a tcp:// endpoint, and only a worker connected over tcp:// relays; got '\(relay)'")
        }
        let host = relay.dropFirst("tcp://".count).split(separator: ":").first.map(String.init) ?? ""
        guard !["*", "0.0.0.0", "", "[::]"].contains(host) else {
            throw ValidationError("--relay needs the address other workers reach this one at, not '\(host)'")
        }
        guard !encrypted else {
            throw ValidationError(
                "--relay does not encrypt the parameters it passes on yet, so it cannot be used with CURVE")
        }
    }

    /// A DEALER connected to `endpoint`, sharing memory with a coordinator on this machine.
    private static func connectTransport(_ endpoint: String, curve: CurveSecurity?) throws -> any WorkerTransport {
        var options = ZeroMQOptions()
        options.curve = curve
        // Shard chunks wait in the coordinator's queue and the kernel's buffer, not in this
        // process beside the shard being assembled.
        options.receiveHighWaterMark = 2
        let socket = try ZeroMQTransport.connect(endpoint, options: options)
        guard SharedMemoryTransport.applies(to: endpoint, encrypted: curve != nil) else { return socket }
        return SharedMemoryDealer(over: socket)
    }
}
