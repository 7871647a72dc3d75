import Foundation

/// Runs a command with a pseudo-terminal as its stdin, stdout and stderr, through util-linux
/// `script`, to see what a person at a terminal sees. Both streams arrive merged, with the
/// terminal's own `\n` → `\r\n`.
enum PseudoTerminal {
    /// Runs `coordinator ARGUMENTS` under a terminal to its end; the outcome's stdout is the screen.
    static func coordinator(_ arguments: [String], in scratch: ScratchDirectory, timeout: Duration = .seconds(60))
        async throws -> ProcessOutcome
    {
        let command = ([try Binaries.coordinator()] + arguments).map(shellQuoted).joined(separator: " ")
        // -q: no banner, -f: flush as written, -e: the command's exit status, -c: the command.
        return try await LaunchedProcess.run(
            try script(), ["-qfec", command, "/dev/null"], in: scratch, timeout: timeout)
    }

    /// `script` from PATH; its absence fails the test rather than skipping it.
    private static func script() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = (String(directory) as NSString).appendingPathComponent("script")
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw HarnessError.setup(
            "no `script` (util-linux) on PATH: it provides the pseudo-terminal for the progress-line tests")
    }

    private static func shellQuoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
