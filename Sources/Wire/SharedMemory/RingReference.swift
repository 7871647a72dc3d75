/// Bytes of a region's two rings: toward the coordinator (gradient segments, a few at a time)
/// and toward the worker. Either may be empty (0 bytes): frames that way take the socket.
struct RingSizes: Equatable, CustomStringConvertible {
    var toCoordinator: Int
    var toWorker: Int

    var total: Int { toCoordinator + toWorker }
    var description: String { "\(toCoordinator) and \(toWorker)" }

    /// Not both empty, each within `SharedRegion.maxCapacity`, in whole cache lines.
    var isValid: Bool {
        total > 0
            && [toCoordinator, toWorker].allSatisfy {
                $0 >= 0 && $0 <= SharedRegion.maxCapacity && $0 % SharedRegion.alignment == 0
            }
    }

    /// Each ring rounded up to whole pages; an empty one stays empty.
    func rounded(to page: Int) -> RingSizes {
        let round = { (bytes: Int) in bytes <= 0 ? 0 : (bytes + page - 1) / page * page }
        return RingSizes(toCoordinator: round(toCoordinator), toWorker: round(toWorker))
    }
}

/// Where a frame sent through a `SharedRegion` lies: the 20-byte frame sent in its place.
struct RingReference: Equatable {
    /// Bytes since the ring began (the ring offset is this modulo its capacity).
    var position: UInt64
    var length: UInt64

    /// "DSMR": not the codec's "DSCT", so a reference is never taken for a frame.
    static let magic: UInt32 = 0x524D_5344
    static let byteCount = 20

    /// magic (u32), position, length (u64 each): little-endian, like a payload.
    var bytes: [UInt8] {
        var writer = PayloadWriter(reserved: 0, capacity: Self.byteCount)
        writer.write(Self.magic)
        writer.write(position)
        writer.write(length)
        return writer.finish()
    }

    init(position: UInt64, length: UInt64) {
        self.position = position
        self.length = length
    }

    /// The reference a frame carries, or nil for any other frame.
    init?(_ frame: [UInt8]) {
        guard frame.count == Self.byteCount else { return nil }
        var reader = PayloadReader(frame, from: 0)
        guard (try? reader.read(UInt32.self, "magic")) == Self.magic,
            let position = try? reader.read(UInt64.self, "position"),
            let length = try? reader.read(UInt64.self, "length")
        else { return nil }
        (self.position, self.length) = (position, length)
    }
}
