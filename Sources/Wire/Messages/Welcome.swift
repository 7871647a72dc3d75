import Core

/// Coordinator → worker, the answer to an accepted `Hello`: everything a worker needs to
/// build the same network the coordinator trains.
public struct Welcome: Sendable, Equatable {
    /// The worker's number in this run, for logs; it says nothing about which shards it hosts.
    public var rank: UInt32
    /// How often each side sends `Heartbeat`; a few missed beats declare the peer lost.
    public var heartbeatMilliseconds: UInt32
    /// BLAS threads the worker must pin, so a partial's arithmetic never depends on the host.
    public var threads: UInt32
    /// Layer widths from input to output, e.g. `[784, 128, 10]`.
    public var layers: [UInt32]
    /// The hidden-layer activation by name, e.g. `"relu"`.
    public var activation: String
    /// The run's seed.
    public var seed: UInt64
    /// How the worker must send its partials' gradients: Float32, or 16-bit with error feedback.
    public var gradientEncoding: GradientEncoding
    /// The BLAS kernel the worker computes with: the run's (or, admitted with
    /// `--allow-mixed-arithmetic`, its own); it checks the kernel before its first partial.
    public var blasKernel: String

    public init(
        rank: UInt32,
        heartbeatMilliseconds: UInt32,
        threads: UInt32,
        layers: [UInt32],
        activation: String,
        seed: UInt64,
        gradientEncoding: GradientEncoding = .float32,
        blasKernel: String = BLAS.kernelName
    ) {
        self.rank = rank
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.threads = threads
        self.layers = layers
        self.activation = activation
        self.seed = seed
        self.gradientEncoding = gradientEncoding
        self.blasKernel = blasKernel
    }
}
