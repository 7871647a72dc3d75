import Core
import Wire

extension Core.ShardWork {
    /// The same work in the wire's terms.
    var wire: Wire.ShardWork {
        switch selection {
        case .range(let r):
            return Wire.ShardWork(
                shardID: UInt32(shard), examples: .range(start: UInt32(r.lowerBound), count: UInt32(r.count)))
        case .list(let indices):
            return Wire.ShardWork(shardID: UInt32(shard), examples: .list(indices.map { UInt32(bitPattern: $0) }))
        }
    }
}
