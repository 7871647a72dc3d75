/// Failures the harness itself detects: a missing build, a process that hangs, output it cannot
/// read, a machine it cannot set up on.
enum HarnessError: Error, CustomStringConvertible {
    case missingBinary(path: String)
    case timedOut(command: String, seconds: Double, stderrTail: String)
    case malformedOutput(String)
    case setup(String)

    var description: String {
        switch self {
        case .missingBinary(let path):
            return "no executable at \(path): run `swift build -c release` (or `scripts/test`), "
                + "or point DESCENT_BIN at the directory holding `coordinator` and `worker`"
        case .timedOut(let command, let seconds, let stderrTail):
            return "killed after \(seconds) s: \(command)\n--- stderr (tail) ---\n\(stderrTail)"
        case .malformedOutput(let detail), .setup(let detail):
            return detail
        }
    }
}
