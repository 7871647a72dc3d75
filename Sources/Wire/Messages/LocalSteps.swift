import Core

/// Coordinator → local worker (protocol 10): take the steps after `step` through `last` among the
/// local workers, in the coordinator's step area (`StepArea`), as process `party` of `parties`:
/// compute `shards` each step, and add and update range `party` of the parameters. Everything a
/// worker needs to plan the steps itself (the run's shards, batch, seed, learning rate and
/// schedule) and to update its range (the optimizer, its update count) comes with it. Sent only to
/// workers the coordinator started itself (`--local-workers`), which accept it only from their
/// parent.
public struct LocalSteps: Sendable, Equatable {
    /// Steps committed before the span.
    public var step: UInt64
    /// The span's last step.
    public var last: UInt64
    /// The step area: the coordinator's pid and its descriptor.
    public var pid: Int32
    public var fd: Int32
    public var party: UInt32
    public var parties: UInt32
    /// The shards this worker computes every step, all among those it hosts.
    public var shards: [UInt32]
    /// The run's shard count, example count, batch (0: full batch) and seed: its `BatchSchedule`.
    public var shardCount: UInt32
    public var exampleCount: UInt64
    public var batch: UInt32
    public var seed: UInt64
    public var learningRate: Float
    public var schedule: LearningRateSchedule
    public var optimizer: OptimizerSettings
    /// The optimizer's updates so far (Adam's t).
    public var updates: UInt64
    /// How long a worker waits at a barrier for the others before it gives the span up.
    public var timeoutMilliseconds: UInt32

    public init(
        step: UInt64, last: UInt64, pid: Int32, fd: Int32, party: UInt32, parties: UInt32, shards: [UInt32],
        shardCount: UInt32, exampleCount: UInt64, batch: UInt32, seed: UInt64, learningRate: Float,
        schedule: LearningRateSchedule, optimizer: OptimizerSettings, updates: UInt64, timeoutMilliseconds: UInt32
    ) {
        (self.step, self.last, self.pid, self.fd, self.party, self.parties) = (step, last, pid, fd, party, parties)
        (self.shards, self.shardCount, self.exampleCount, self.batch, self.seed) = (
            shards, shardCount, exampleCount, batch, seed
        )
        (self.learningRate, self.schedule, self.optimizer) = (learningRate, schedule, optimizer)
        (self.updates, self.timeoutMilliseconds) = (updates, timeoutMilliseconds)
    }
}
