/// Why a distributed run could not go on.
enum CoordinatorError: Error, CustomStringConvertible {
    case notEnoughWorkers(expected: Int, arrived: Int, seconds: Double)
    case shardsNotAcknowledged([Int])
    case workerLost(rank: Int, name: String, seconds: Double, step: Int)
    case workerExited(index: Int, status: Int32)
    case workerExecutableMissing(String)
    case interrupted(signal: Int32)
    case tooFewWorkers(alive: Int, minimum: Int, seconds: Double)
    case reducerLost(rank: Int, name: String, reason: String)
    case notEnoughReducers(expected: Int, arrived: Int, seconds: Double)

    var description: String {
        switch self {
        case .notEnoughWorkers(let expected, let arrived, let seconds):
            return "only \(arrived) of \(expected) workers registered within \(seconds) s"
        case .shardsNotAcknowledged(let shards):
            return "workers did not confirm shards \(shards.map(String.init).joined(separator: ", ")) in time"
        case .workerLost(let rank, let name, let seconds, let step):
            return "worker \(rank) (\(name)) was silent for \(seconds) s during step \(step)"
        case .workerExited(let index, let status):
            return "local worker \(index) exited with status \(status)"
        case .workerExecutableMissing(let path):
            return "cannot start local workers: no executable at \(path) (build with `swift build -c release`)"
        case .tooFewWorkers(let alive, let minimum, let seconds):
            return "only \(alive) worker(s) left, below --min-workers \(minimum), and none joined within \(seconds) s"
        case .reducerLost(let rank, let name, let reason):
            return
                "reducer \(rank) (\(name)) lost: \(reason); the sums and moments of its range went with it, so the run stops (resume from the last checkpoint)"
        case .notEnoughReducers(let expected, let arrived, let seconds):
            return "only \(arrived) of \(expected) reducers registered within \(seconds) s"
        case .interrupted(let signal):
            return "interrupted by signal \(signal)"
        }
    }
}
