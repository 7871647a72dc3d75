/// Where a step's PARAMS lies on a `ParameterBoard`: the 24-byte frame a worker gets in its place.
struct BoardReference: Equatable {
    var slot: UInt32
    var length: UInt32
    var step: UInt64

    /// "DSMP".
    static let magic: UInt32 = 0x504D_5344
    static let byteCount = 24

    /// magic, slot, length (u32 each), 4 zero bytes, step (u64): little-endian, like a payload.
    var bytes: [UInt8] {
        var writer = PayloadWriter(reserved: 0, capacity: Self.byteCount)
        writer.write(Self.magic)
        writer.write(slot)
        writer.write(length)
        writer.writePadding(4)
        writer.write(step)
        return writer.finish()
    }

    init(slot: UInt32, length: UInt32, step: UInt64) {
        self.slot = slot
        self.length = length
        self.step = step
    }

    /// The reference a frame carries, or nil for any other frame.
    init?(_ frame: [UInt8]) {
        guard frame.count == Self.byteCount else { return nil }
        var reader = PayloadReader(frame, from: 0)
        guard (try? reader.read(UInt32.self, "magic")) == Self.magic,
            let slot = try? reader.read(UInt32.self, "slot"), let length = try? reader.read(UInt32.self, "length"),
            (try? reader.readPadding(4, "padding")) != nil, let step = try? reader.read(UInt64.self, "step")
        else { return nil }
        (self.slot, self.length, self.step) = (slot, length, step)
    }
}
