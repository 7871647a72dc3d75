import Core

/// What the coordinator's pool of workers is configured with.
struct PoolSettings {
    var expectedWorkers: Int
    var minWorkers: Int
    var registerTimeout: Duration
    var workerTimeout: Duration
    var heartbeat: Duration = .milliseconds(500) // workers beat at this rate; a lost one misses several
    var threads: Int
    var seed: UInt64
    /// How workers send gradients; a partial in another encoding is refused.
    var compress: GradientEncoding = .float32
    /// The BLAS kernel and profile workers must compute with.
    var arithmetic: RunArithmetic = .current(threads: 1)
    /// The least a step waits before the coordinator computes its missing shards itself
    /// (`Backup`); nil: never.
    var backupAfter: Duration?
    /// How the parameters reach the workers, and each relay's children in the broadcast tree.
    var broadcast: BroadcastMode = .auto
    var relayFanout = 2
    /// `--reducers S`: the parameters are summed and updated in S ranges, S − 1 of them by reducers.
    var reducers = 1
    /// The run's optimizer, which the reducers apply to their ranges.
    var optimizer = OptimizerSettings()
    /// Names whose index is their worker's rank, whichever registers first (`--local-workers`:
    /// `local-k` is rank k), so that a log's "worker k (local-k)" and a rank in `DESCENT_FAULTS`
    /// name the same process.
    var rankedNames: [String] = []
}
