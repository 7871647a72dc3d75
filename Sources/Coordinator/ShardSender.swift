import Core
import Wire

/// Sends shards to their owners as SHARD chunks, a window at a time.
///
/// The coordinator's queue to each worker holds `window` messages (its ZMQ_SNDHWM); chunks beyond
/// it wait here unencoded and are encoded and sent as room frees up, so the coordinator holds a
/// few MiB of chunks per worker rather than every shard a second time.
final class ShardSender {
    /// Bytes of examples per SHARD message: small enough that a worker assembling a shard holds
    /// little beside it, large enough that a 60,000-example shard is a couple of hundred messages.
    static let chunkBytes = 1 << 20
    /// Messages queued for one worker at most (the coordinator's ZMQ_SNDHWM).
    static let window: Int32 = 16

    /// A shard on its way to its owner: the chunks from `next` on are still to be sent.
    private struct Transfer {
        let worker: PoolWorker
        let shard: Int
        var next = 0
        /// The chunk at `next`, encoded but not yet taken by a full queue.
        var encoded: [[UInt8]]?
    }

    private let workerOutbox: WorkerOutbox
    private let plan: ShardPlan
    private var outbox: [Transfer] = []

    init(workerOutbox: WorkerOutbox, plan: ShardPlan) {
        self.workerOutbox = workerOutbox
        self.plan = plan
    }

    /// Whether every shard handed over has been sent.
    var isIdle: Bool { outbox.isEmpty }

    /// Queues `shard` for `worker`; `pump` sends it.
    func send(_ shard: Int, to worker: PoolWorker) {
        outbox.append(Transfer(worker: worker, shard: shard))
    }

    /// Sends chunks, in the order the shards were handed over, while their workers' queues have
    /// room. A transfer whose shard is no longer the worker's (`stillOwned` false) is dropped; so
    /// is one whose worker cannot be reached, after telling `unreachable`.
    func pump(
        dataset: Dataset, stillOwned: (Int, PoolWorker) -> Bool, unreachable: (PoolWorker) -> Void
    ) {
        guard !outbox.isEmpty else { return }
        let n0 = dataset.featureCount
        let perChunk = max(1, Self.chunkBytes / (n0 * 4 + 4))
        var index = 0
        while index < outbox.count {
            var transfer = outbox[index]
            let worker = transfer.worker
            let range = plan.ranges[transfer.shard]
            var done = !stillOwned(transfer.shard, worker)
            while !done && transfer.next < range.count {
                let m = min(perChunk, range.count - transfer.next)
                let start = range.lowerBound + transfer.next
                let frames =
                    transfer.encoded
                    ?? MessageCodec.encode(
                        .shard(
                            ShardChunk(
                                shardID: UInt32(transfer.shard), shardCount: UInt32(plan.shardCount),
                                features: UInt32(n0),
                                shardExamples: UInt32(range.count), firstExample: UInt32(transfer.next),
                                labels: Array(dataset.labels[start..<start + m]),
                                values: Array(
                                    UnsafeBufferPointer(start: dataset.features.storage + start * n0, count: m * n0)))))
                transfer.encoded = nil
                do {
                    guard try workerOutbox.sendIfRoom(frames, to: worker.peer) else {
                        transfer.encoded = frames
                        break
                    }
                } catch {
                    unreachable(worker)
                    done = true
                    break
                }
                transfer.next += m
            }
            if done || transfer.next >= range.count {
                outbox.remove(at: index)
            } else {
                outbox[index] = transfer
                index += 1
            }
        }
    }
}
