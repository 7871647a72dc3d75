import Core

/// Coordinator → reducer, the answer to a reducer's `Hello` (one with a `reducerEndpoint`), and
/// again after a resume: everything a reducer needs to update its range of the parameters as the
/// coordinator would. Its range's values and optimizer moments follow as `RangeState` pieces.
public struct ReducerAssign: Sendable, Equatable {
    /// The range this reducer owns, r ≥ 1: `boundaries[r] ..< boundaries[r + 1]`.
    public var rank: UInt32
    /// How often each side sends `Heartbeat`, as in `Welcome`.
    public var heartbeatMilliseconds: UInt32
    /// Layer widths from input to output, e.g. `[784, 128, 10]`: the parameter layout.
    public var layers: [UInt32]
    /// The hidden-layer activation by name, e.g. `"relu"`.
    public var activation: String
    /// The run's shard count K: the leaves of the reduction tree the reducer adds pieces by.
    public var shardCount: UInt32
    /// The run's ranges, as `Reducers.boundaries`.
    public var boundaries: [UInt32]
    /// The optimizer and its hyper-parameters.
    public var optimizer: OptimizerSettings
    /// Optimizer updates applied so far (Adam's bias correction counts them).
    public var updates: UInt64
    /// The step whose parameters the `RangeState` pieces that follow hold.
    public var step: UInt64
    /// Whether the reducer sends the workers its range of each step's W, b itself (PARAMS_PART,
    /// `--broadcast reducers`), and the coordinator only the marks (REDUCED without values).
    public var broadcast: Bool

    public init(
        rank: UInt32, heartbeatMilliseconds: UInt32, layers: [UInt32], activation: String, shardCount: UInt32,
        boundaries: [UInt32], optimizer: OptimizerSettings, updates: UInt64, step: UInt64, broadcast: Bool = false
    ) {
        self.rank = rank
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.layers = layers
        self.activation = activation
        self.shardCount = shardCount
        self.boundaries = boundaries
        self.optimizer = optimizer
        self.updates = updates
        self.step = step
        self.broadcast = broadcast
    }
}
