import Core
import Foundation

/// What the fault-tolerance and security tests need beyond starting a process: waiting for a run
/// to reach a step, making sure nothing they started outlives them, and looking into checkpoints.
enum Poll {
    /// Checks `condition` every 20 ms until it holds (true) or `timeout` passes (false).
    static func until(timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}

extension SyntheticTraining {
    /// `flags(csv:batch:)` with a step count of the test's choosing: the fault tests need runs
    /// long enough to be disturbed in the middle.
    static func flags(csv: String, batch: Int, steps: Int) -> [String] {
        var arguments = flags(csv: csv, batch: batch)
        arguments[arguments.firstIndex(of: "--steps")! + 1] = String(steps)
        return arguments
    }
}

extension MetricsFile {
    /// Step lines the file at `path` holds so far, counting only lines already ended by a
    /// newline (the coordinator may be halfway through writing the next one); 0 when absent.
    static func completedSteps(_ path: String) -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .filter { !$0.isEmpty && !$0.contains("\"event\"") }.count
    }

    /// Waits until `process` has written at least `steps` step lines to `path`. False if it
    /// ended first or `timeout` passed.
    static func waitForSteps(
        _ steps: Int, in path: String, of process: LaunchedProcess, timeout: Duration = .seconds(30)
    ) async -> Bool {
        await Poll.until(timeout: timeout) { !process.isRunning || completedSteps(path) >= steps }
            && process.isRunning
    }
}

/// Every process a test starts, killed with SIGKILL — with its descendants and any `worker`
/// that names it as its parent — when the test ends, however it ends. A stopped (SIGSTOP)
/// process dies of SIGKILL too, so nothing is left behind even when an expectation failed
/// half-way.
final class ProcessReaper {
    private var processes: [LaunchedProcess] = []

    @discardableResult
    func track(_ process: LaunchedProcess) -> LaunchedProcess {
        processes.append(process)
        return process
    }

    /// Processes a test started that are still alive (for "nothing left behind" checks):
    /// the tracked ones and the workers of tracked coordinators.
    func survivors() -> [ProcessTable.Entry] {
        var entries: [ProcessTable.Entry] = []
        for process in processes {
            if process.isRunning, let entry = ProcessTable.entry(process.pid), entry.isAlive { entries.append(entry) }
            entries += ProcessTable.workers(of: process.pid)
        }
        return entries
    }

    func killAll() {
        for process in processes {
            for worker in ProcessTable.workers(of: process.pid) { kill(worker.pid, SIGKILL) }
            guard process.isRunning else { continue }
            for child in ProcessTable.descendants(of: process.pid).reversed() { kill(child, SIGKILL) }
            process.send(SIGKILL)
        }
    }

    deinit { killAll() }
}

/// Checkpoint directories as `--checkpoint-dir` fills them.
enum CheckpointFiles {
    /// The checkpoint files in `directory`, oldest first (their names sort by step).
    static func list(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("checkpoint-") && $0.hasSuffix(".safetensors") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    /// The step a checkpoint holds, from its `__metadata__`.
    static func step(_ path: String) throws -> Int {
        guard let step = try SafetensorsFile.read(from: path).metadata["step"].flatMap(Int.init) else {
            throw HarnessError.malformedOutput("\(path): no step in __metadata__")
        }
        return step
    }

    /// The names of the tensors in `path` that hold a NaN or an infinity.
    static func nonFiniteTensors(_ path: String) throws -> [String] {
        try SafetensorsFile.read(from: path).tensors.filter { !$0.value.values.allSatisfy(\.isFinite) }.keys.sorted()
    }

    /// Flips 16 bytes in the middle of the tensor data (past the 8-byte length and the JSON
    /// header), leaving the file readable as safetensors but wrong in its values.
    static func damageData(_ path: String) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count > 8 else { throw HarnessError.malformedOutput("\(path) is too short to be safetensors") }
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << ($1 * 8) }
        let dataStart = 8 + headerLength
        guard bytes.count > dataStart + 32 else {
            throw HarnessError.malformedOutput("\(path) holds almost no tensor data")
        }
        let middle = dataStart + (bytes.count - dataStart) / 2
        for index in middle..<middle + 16 { bytes[index] ^= 0xA5 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// `python3`, for the hostile peer in Reference/ (standard library only).
enum Python {
    static let hostileClient = Binaries.packageRoot.appendingPathComponent(
        "Tests/EndToEndTests/Reference/hostile_client.py"
    ).path

    /// Whether `python3` runs at all; the tests that need it say so and skip when it does not.
    static func isAvailable(in scratch: ScratchDirectory) async -> Bool {
        guard
            let probe = try? await LaunchedProcess.run(
                "/usr/bin/env", ["python3", "-c", "import socket, struct"], in: scratch, timeout: .seconds(30))
        else { return false }
        return probe.succeeded
    }

    /// Starts `hostile_client.py MODE 127.0.0.1 PORT` and returns at once.
    static func launchHostileClient(_ mode: String, port: Int, in scratch: ScratchDirectory) throws -> LaunchedProcess {
        try LaunchedProcess("/usr/bin/env", ["python3", hostileClient, mode, "127.0.0.1", String(port)], in: scratch)
    }

    /// The JSON report the hostile client printed last; it must have ended well.
    static func report(of outcome: ProcessOutcome) throws -> [String: Any] {
        guard outcome.succeeded, let line = outcome.stdoutLines.last else {
            throw HarnessError.malformedOutput("the hostile client failed\n\(outcome.transcript)")
        }
        return try JSONLines.object(line, source: "the hostile client's report")
    }
}
