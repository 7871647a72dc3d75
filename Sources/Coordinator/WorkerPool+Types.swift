import Foundation
import Core
import Wire

/// What a `WorkerPool` is configured with, what it knows of each worker, a step's parameters,
/// and a step's work in the wire's terms.
extension WorkerPool {
    struct Settings {
        var expectedWorkers: Int
        var minWorkers: Int
        var registerTimeout: Duration
        var workerTimeout: Duration
        var heartbeat: Duration = .milliseconds(500)  // workers beat at this rate; a lost one misses several
        var threads: Int
        var seed: UInt64
        /// How workers send gradients; a partial in another encoding is refused.
        var compress: CompressOption = .none
    }

    final class Worker {
        let peer: PeerID
        let rank: Int
        let name: String
        /// The worker's IP address (TCP), for logs.
        let address: String?
        /// How logs name it: "local-0" or "node7:4411 at 10.0.0.7".
        var label: String { address.map { "\(name) at \($0)" } ?? name }
        var shards: Set<Int> = []
        var ready: Set<Int> = []
        var lastHeard = ContinuousClock.now
        /// Whether the log has said how this worker's frames travel.
        var transportLogged = false

        init(peer: PeerID, rank: Int, name: String, address: String?) {
            self.peer = peer
            self.rank = rank
            self.name = name
            self.address = address
        }
    }

    /// A step handed to the workers, with what its timings know so far.
    struct BegunStep {
        let step: Int
        let sent: ContinuousClock.Instant
        let timings: StepTimings
        /// Bytes received through shared memory before the step began.
        let sharedBytesBefore: Int
    }

    /// One step's W, b, and their PARAMS as a worker takes them: a reference to the shared
    /// parameters if it reads those, else the frames themselves, encoded on first need and then
    /// sent as they are to every worker.
    struct StepParameters {
        let step: Int
        let values: ParameterBuffer
        /// The step's reference to its PARAMS on the parameters shared with local workers.
        let sharedReference: [[UInt8]]?
        private var encoded: [[UInt8]] = []

        init(step: Int, values: ParameterBuffer, sharedReference: [[UInt8]]?) {
            self.step = step
            self.values = values
            self.sharedReference = sharedReference
        }

        mutating func frames(sharedReader: Bool) -> [[UInt8]] {
            if sharedReader, let sharedReference { return sharedReference }
            if encoded.isEmpty {
                encoded = MessageCodec.encodeParams(step: UInt64(step), values: UnsafeBufferPointer(start: values.values, count: values.count))
            }
            return encoded
        }
    }
}

/// Keeps a received partial's frame alive while one of its segments waits in the accumulator
/// for its turn (`GradientAccumulator.add(…, keptBy:)`).
final class FrameKeeper {
    let gradients: FloatArray
    init(_ gradients: FloatArray) { self.gradients = gradients }
}

extension Core.ShardWork {
    /// The same work in the wire's terms.
    var wire: Wire.ShardWork {
        switch selection {
        case .range(let r):
            return Wire.ShardWork(shardID: UInt32(shard), examples: .range(start: UInt32(r.lowerBound), count: UInt32(r.count)))
        case .list(let indices):
            return Wire.ShardWork(shardID: UInt32(shard), examples: .list(indices.map { UInt32(bitPattern: $0) }))
        }
    }
}
