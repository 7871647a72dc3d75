import Foundation
import Logging

/// `--launcher`: a process started by torchrun, mpirun, srun or a Kubernetes Indexed Job finds
/// its rank; rank 0 trains as the coordinator, with `--reducers S` ranks 1…S−1 become reducers,
/// every other rank a worker.
extension TrainCommand {
    /// Rank 0's command: the same flags, with `--workers WORLD_SIZE − 1` (or `--in-process` for a
    /// world of one) on the launcher's endpoint. Any other rank is replaced by a `worker`
    /// process here and never returns.
    func launchedRole(log: Logger) throws -> TrainCommand {
        let placement: LaunchPlacement
        do {
            placement = try Launcher.place(
                launcher, env: ProcessInfo.processInfo.environment, port: port, coordinatorHost: coordinatorHost)
        } catch let problem as LauncherProblem {
            throw ConfigurationErrorText(problem.description)
        }
        let found = launcher == .auto ? "found \(placement.launcher.rawValue)" : placement.launcher.rawValue
        let connectHost = placement.host.contains(":") ? "[\(placement.host)]" : placement.host
        log.info(
            """
            launcher \(found): rank \(placement.rank) of \(placement.worldSize); the coordinator (rank 0) at \
            \(connectHost):\(placement.port), port from \(placement.portSource)
            """)
        let loopback = Exposure.isLocal("tcp://\(connectHost):1")
        guard reducers == 1 || placement.worldSize > reducers else {
            throw ConfigurationErrorText(
                "--launcher with --reducers \(reducers): ranks 1…\(reducers - 1) reduce, so the world needs at least \(reducers + 1) ranks for one worker; it has \(placement.worldSize)"
            )
        }
        if placement.rank != 0 {
            let address = try HostName.resolve(placement.host, for: "--launcher \(placement.launcher.rawValue)")
            // Ranks 1…S−1 reduce, each on the port after the coordinator's plus its rank, at an
            // address the workers reach.
            let reduceAt =
                placement.rank < reducers
                ? "tcp://\(loopback ? "127.0.0.1" : try ownAddress()):\(placement.port + placement.rank)" : nil
            try execWorker(connecting: "tcp://\(address):\(placement.port)", rank: placement.rank, reduceAt: reduceAt)
        }
        var command = self
        command.launcher = .none
        if placement.worldSize == 1 {
            command.inProcess = true
            return command
        }
        command.workers = placement.worldSize - reducers
        command.bind = "tcp://\(loopback ? "127.0.0.1" : "0.0.0.0"):\(placement.port)"
        if !loopback, curveSecretKey == nil, !insecure {
            throw ConfigurationErrorText(
                """
                --launcher: the workers reach rank 0 at \(placement.host), another machine's address: give \
                --curve-secret-key and --authorized-keys (with --worker-secret-key and --server-public-key \
                for the workers), or --insecure to accept that anyone who can reach port \(placement.port) may join
                """)
        }
        return command
    }

    /// Replaces this process with the `worker` beside this executable, connected to rank 0.
    private func execWorker(connecting endpoint: String, rank: Int, reduceAt: String?) throws -> Never {
        let executable = (Self.ownExecutable() as NSString).deletingLastPathComponent + "/worker"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ConfigurationErrorText(
                "--launcher: no worker executable at \(executable) (it must sit beside coordinator)")
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        var arguments = [
            executable, "--connect", endpoint, "--name", "\(host)-rank\(rank)", "--register-timeout",
            "\(registerTimeout)", "--log-level", quiet ? "warning" : logLevel,
        ]
        if let workerSecretKey, let serverPublicKey {
            arguments += ["--curve-secret-key", workerSecretKey, "--server-public-key", serverPublicKey]
        }
        if let reduceAt { arguments += ["--reduce-at", reduceAt] }
        fflush(nil)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv(executable, &argv)
        let reason = String(cString: strerror(errno))
        throw ConfigurationErrorText("--launcher: cannot start \(executable): \(reason)")
    }

    /// This host's address as its name resolves, for a reducer the workers must reach.
    private func ownAddress() throws -> String {
        let host = ProcessInfo.processInfo.hostName
        return try HostName.resolve(host, for: "--launcher --reducers (this rank's host name \(host))")
    }

    private static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Host names in endpoints: ZeroMQ binds only to addresses and interfaces, so names are looked
/// up first.
enum HostName {
    /// `host` as an IPv4 address (an address is returned as it is).
    static func resolve(_ host: String, for flag: String) throws -> String {
        var probe = in_addr()
        if host == "*" || inet_pton(AF_INET, host, &probe) == 1 { return host }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &results)
        defer { if results != nil { freeaddrinfo(results) } }
        guard status == 0, let first = results, let address = first.pointee.ai_addr else {
            let reason = String(cString: gai_strerror(status))
            throw ConfigurationErrorText("\(flag): cannot resolve the host name '\(host)': \(reason)")
        }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        var ipv4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        inet_ntop(AF_INET, &ipv4, &text, socklen_t(text.count))
        return String(cString: text)
    }

    /// A tcp:// endpoint with its host name resolved; others as they are.
    static func resolvingEndpoint(_ endpoint: String, for flag: String) throws -> String {
        guard endpoint.hasPrefix("tcp://") else { return endpoint }
        let rest = endpoint.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":"), !rest.hasPrefix("[") else { return endpoint }
        let host = String(rest[..<colon])
        return "tcp://\(try resolve(host, for: flag))\(rest[colon...])"
    }
}
