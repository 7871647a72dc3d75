import Core
import Wire

/// Puts a shard back together from the SHARD chunks it arrives in.
struct ShardAssembler {
    private struct Pending {
        let features: ShardFeatureBuilder
        var labels: [Int32]
        var received: [Bool]
        var receivedCount = 0
    }

    private var pending: [UInt32: Pending] = [:]

    /// Takes a chunk; returns the shard once its last chunk is in.
    mutating func add(_ chunk: ShardChunk) throws -> ShardData? {
        let n0 = Int(chunk.features)
        let total = Int(chunk.shardExamples)
        let first = Int(chunk.firstExample)
        let m = chunk.labels.count
        guard n0 > 0, total > 0, m > 0, first + m <= total, chunk.values.count == n0 * m else {
            throw WorkerError.protocolViolation(
                "shard \(chunk.shardID) chunk at \(first) does not fit the shard (\(total) examples × \(n0) features)")
        }
        var shard =
            pending[chunk.shardID]
            ?? Pending(
                features: ShardFeatureBuilder(featureCount: n0, count: total),
                labels: Array(repeating: 0, count: total),
                received: Array(repeating: false, count: total))
        guard shard.features.featureCount == n0, shard.features.count == total else {
            throw WorkerError.protocolViolation("shard \(chunk.shardID) changed shape between chunks")
        }
        chunk.values.withUnsafeBufferPointer { shard.features.write($0, at: first) }
        for i in 0..<m where !shard.received[first + i] {
            shard.received[first + i] = true
            shard.receivedCount += 1
            shard.labels[first + i] = chunk.labels[i]
        }
        guard shard.receivedCount == total else {
            pending[chunk.shardID] = shard
            return nil
        }
        pending[chunk.shardID] = nil
        // Kept as byte codes when its values allow (Fashion-MNIST's pixels): a quarter of the memory.
        return shard.features.finish(id: Int(chunk.shardID), labels: shard.labels)
    }
}
