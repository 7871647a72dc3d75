import Foundation

/// A child process whose stdout and stderr go to files, so that no amount of output can fill a
/// pipe and stall it, and whose life is bounded: past its deadline it is killed with its children.
final class LaunchedProcess {
    let command: String
    let stdoutPath: String
    let stderrPath: String
    private let process = Process()
    private let started = ContinuousClock.now

    /// Starts `executable` in `scratch`'s directory. The environment is the test's, minus any
    /// `DESCENT_FAULTS`, plus `environment`.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], in scratch: ScratchDirectory)
        throws
    {
        let name = (executable as NSString).lastPathComponent
        let tag = "\(name)-\(UUID().uuidString.prefix(8))"
        stdoutPath = scratch.file("\(tag).stdout")
        stderrPath = scratch.file("\(tag).stderr")
        let settings = environment.keys.sorted().map { "\($0)=\(environment[$0]!) " }.joined()
        command = settings + ([executable] + arguments).joined(separator: " ")

        for path in [stdoutPath, stderrPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw HarnessError.setup("cannot create \(path)")
        }
        let stdout = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let stderr = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        defer {
            try? stdout.close()
            try? stderr.close()
        }
        var fullEnvironment = ProcessInfo.processInfo.environment
        fullEnvironment.removeValue(forKey: "DESCENT_FAULTS")
        fullEnvironment.merge(environment) { $1 }

        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = fullEnvironment
        process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        try Self.withShellSignalMask { try process.run() }
    }

    deinit {
        if process.isRunning { killWithChildren() }
    }

    var pid: Int32 { process.processIdentifier }

    var isRunning: Bool { process.isRunning }

    var stdoutSoFar: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    var stderrSoFar: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func send(_ signalNumber: Int32) { kill(pid, signalNumber) }

    /// Waits for the process to end. Past `timeout` it and its children are killed and the test
    /// fails with what the process had printed: nothing may hang.
    func wait(timeout: Duration) async throws -> ProcessOutcome {
        guard await poll(timeout: timeout, until: { !self.process.isRunning }) else {
            killWithChildren()
            throw HarnessError.timedOut(
                command: command, seconds: timeout.seconds, stderrTail: ProcessOutcome.tail(stderrSoFar))
        }
        process.waitUntilExit()
        return ProcessOutcome(
            command: command, pid: pid, status: process.terminationStatus,
            exited: process.terminationReason == .exit,
            stdout: stdoutSoFar, stderr: stderrSoFar, seconds: (ContinuousClock.now - started).seconds)
    }

    /// Polls `condition` every 20 ms until it holds (true) or `timeout` passes (false).
    func poll(timeout: Duration, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// SIGKILL to the process and every process below it, leaves first.
    private func killWithChildren() {
        for child in ProcessTable.descendants(of: pid).reversed() { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// Runs `body` with no signal blocked on this thread, so that a child spawned in it starts as a
    /// shell would start it. The test runner's threads block most signals, a mask every child
    /// would otherwise inherit: SIGINT and SIGTERM sent to it would stay pending forever.
    private static func withShellSignalMask(_ body: () throws -> Void) rethrows {
        var unblocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try body()
    }

    /// Runs a process to its end.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        in scratch: ScratchDirectory, timeout: Duration
    ) async throws -> ProcessOutcome {
        try await LaunchedProcess(executable, arguments, environment: environment, in: scratch).wait(timeout: timeout)
    }
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
