import Foundation

/// The two executables, run the way a user would.
enum Descent {
    /// Runs `coordinator ARGUMENTS` to its end in `scratch`.
    static func coordinator(
        _ arguments: [String], environment: [String: String] = [:], in scratch: ScratchDirectory,
        timeout: Duration = .seconds(60)
    ) async throws -> ProcessOutcome {
        try await LaunchedProcess.run(
            try Binaries.coordinator(), arguments, environment: environment, in: scratch, timeout: timeout)
    }

    /// Starts `coordinator ARGUMENTS` and returns at once.
    static func launchCoordinator(
        _ arguments: [String], environment: [String: String] = [:], in scratch: ScratchDirectory
    ) throws -> LaunchedProcess {
        try LaunchedProcess(try Binaries.coordinator(), arguments, environment: environment, in: scratch)
    }

    /// Starts `worker ARGUMENTS` and returns at once.
    static func launchWorker(
        _ arguments: [String], environment: [String: String] = [:], in scratch: ScratchDirectory
    ) throws -> LaunchedProcess {
        try LaunchedProcess(try Binaries.worker(), arguments, environment: environment, in: scratch)
    }
}
