import Foundation
import Logging

/// `--local-workers N`: N `worker` processes beside this executable, watched while they run and
/// stopped at the end, whatever the end is.
final class LocalWorkers {
    private var processes: [Process] = []
    /// Each process's `--name`.
    private var names: [String] = []
    /// The workers' names, `local-0` first: worker `local-k` is rank k (`PoolSettings.rankedNames`).
    let workerNames: [String]
    private let log: Logger

    /// Starts `count` workers connecting to `endpoint`, and `reducerEndpoints.count` reducers
    /// (`worker --reduce-at`, named `local-reducer-R`), reducer R taking pieces at
    /// `reducerEndpoints[R − 1]`.
    init(count: Int, endpoint: String, reducerEndpoints: [String] = [], logLevel: String, log: Logger) throws {
        self.log = log
        workerNames = (0..<count).map { "local-\($0)" }
        let executable = LocalWorkers.workerExecutable()
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw CoordinatorError.workerExecutableMissing(executable)
        }
        // One worker to a CPU while there are CPUs enough; more workers than CPUs float.
        let cpus = CPUAffinity.allowed()
        let pinned = count <= cpus.count
        let common = ["--connect", endpoint, "--parent-pid", String(getpid()), "--log-level", logLevel]
        for (index, name) in workerNames.enumerated() {
            try launch(executable, name: name, arguments: common, on: pinned ? cpus[index] : nil)
        }
        // Reducers float: each is busy only while pieces arrive, between the workers' computations.
        for (index, reduceAt) in reducerEndpoints.enumerated() {
            try launch(
                executable, name: "local-reducer-\(index + 1)", arguments: common + ["--reduce-at", reduceAt], on: nil)
        }
        if pinned {
            log.debug("local workers pinned to CPUs \(cpus.prefix(count).map(String.init).joined(separator: ", "))")
        }
    }

    /// Starts `executable` as `name` with `arguments`, pinned to `cpu` when given; on failure the
    /// processes started so far are stopped.
    private func launch(_ executable: String, name: String, arguments: [String], on cpu: Int?) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments + ["--name", name]
        do {
            if let cpu {
                try CPUAffinity.withThread(on: cpu) { try process.run() }
            } else {
                try process.run()
            }
        } catch {
            stop(grace: .zero)
            throw CoordinatorError.workerExecutableMissing("\(executable) (\(error))")
        }
        processes.append(process)
        names.append(name)
    }

    /// `worker` in the directory of the running `coordinator`.
    static func workerExecutable() -> String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("worker").path
    }

    /// Throws if a worker has exited before registering (registration would wait in vain).
    func checkRegistering() throws {
        for (index, process) in processes.enumerated() where !process.isRunning {
            if names[index].hasPrefix("local-reducer-") {
                throw CoordinatorError.reducerLost(
                    rank: Int(names[index].dropFirst("local-reducer-".count)) ?? 0, name: names[index],
                    reason: "its process exited with status \(process.terminationStatus) before it registered")
            }
            throw CoordinatorError.workerExited(index: index, status: process.terminationStatus)
        }
    }

    /// The `--name`s of workers whose process has exited.
    func exitedNames() -> Set<String> {
        Set(processes.indices.filter { !processes[$0].isRunning }.map { names[$0] })
    }

    /// Waits up to `grace` for the workers to leave on their own, then terminates, then kills.
    func stop(grace: Duration) {
        let deadline = ContinuousClock.now + grace
        while processes.contains(where: \.isRunning), ContinuousClock.now < deadline { usleep(20_000) }
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            // A stopped worker (SIGSTOP) acts on SIGTERM only once continued.
            kill(process.processIdentifier, SIGCONT)
        }
        let killAt = ContinuousClock.now + .seconds(2)
        while processes.contains(where: \.isRunning), ContinuousClock.now < killAt { usleep(20_000) }
        for process in processes where process.isRunning {
            log.warning("local worker pid \(process.processIdentifier) ignored SIGTERM; killing it")
            kill(process.processIdentifier, SIGKILL)
        }
        for process in processes { process.waitUntilExit() }
        processes = []
    }

    deinit { stop(grace: .zero) }
}
