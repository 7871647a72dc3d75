/// The parameters a coordinator shares with its local workers (docs/PROTOCOL.md, "Shared
/// memory"): one memory file with two slots, each holding one PARAMS frame.
///
/// The coordinator keeps W, b in the slots themselves (`values(inSlot:)`): the current ones in
/// one, the next step's computed into the other while the step runs — each gradient segment's
/// update as soon as its sum is complete. Publishing a step then writes only the frame's header
/// and fields around the values and checksums them, and each worker gets a 24-byte reference in
/// place of the frame. A worker checks the frame where it lies (header, checksum, fields) and
/// computes from it: no copy, and no megabyte through the socket per worker. Values that lie
/// elsewhere are copied into the slot not published last. Either way no worker of the running
/// step reads the slot being written: it reads the step's own slot, and only until it has sent
/// its last partial. (A worker the coordinator gave up on may still be reading an older frame:
/// what it computes is for a step that is over, and is ignored.)
///
/// The coordinator creates the file and seals it against new writers (`F_SEAL_FUTURE_WRITE`)
/// before offering it: a worker can map it only to read, so no process but the coordinator can
/// change what the workers compute from. A worker maps it read-only after checking that it is the
/// coordinator's (the pid libzmq reports for the connection), a `descent-params` memory file of the
/// size offered, sealed, with the header in place.
final class ParameterBoard {
    /// "DSCPRM01", at the start of the header page.
    static let magic: UInt64 = 0x3130_4D52_5043_5344
    static let headerBytes = 4096
    /// The largest slot a coordinator may offer.
    static let maxSlotBytes = 1 << 30
    /// What the memory file is called in /proc (`/memfd:descent-params (deleted)`).
    static let fileName = "descent-params"

    /// Slots: the step's parameters in one, the next step's being computed in the other.
    static let slotCount = 2

    /// The memory file, mapped for as long as the board lives.
    private let file: MemoryFile
    /// Bytes of each slot: one PARAMS frame.
    let slotBytes: Int
    /// The slot `publish` used last.
    private var lastPublished = ParameterBoard.slotCount - 1

    var base: UnsafeMutableRawPointer { file.base }
    var byteCount: Int { file.byteCount }
    var fileDescriptor: Int32 { file.fileDescriptor }

    private init(file: MemoryFile, slotBytes: Int) {
        self.file = file
        self.slotBytes = slotBytes
    }

    private static func bytes(slotBytes: Int) -> Int { headerBytes + slotCount * slotBytes }

    /// Slots start on cache lines.
    private static func isValid(slotBytes: Int) -> Bool {
        slotBytes > WireProtocol.headerSize && slotBytes <= maxSlotBytes && slotBytes % 64 == 0
    }

    /// The coordinator's side: a board whose slot holds a frame of `frameBytes`, sealed against
    /// any writer but this mapping.
    static func create(frameBytes: Int) throws(WireError) -> ParameterBoard {
        let slotBytes = (frameBytes + 63) / 64 * 64
        guard isValid(slotBytes: slotBytes) else { throw .sharedMemory("a \(frameBytes)-byte PARAMS frame does not fit a shared slot") }
        let file = try MemoryFile.create(named: fileName, bytes: bytes(slotBytes: slotBytes), sealed: true)
        file.base.storeBytes(of: magic, as: UInt64.self)
        file.base.storeBytes(of: UInt64(slotBytes), toByteOffset: 8, as: UInt64.self)
        file.base.storeBytes(of: UInt64(slotCount), toByteOffset: 16, as: UInt64.self)
        return ParameterBoard(file: file, slotBytes: slotBytes)
    }

    /// A worker's side: maps, read-only, the board that process `pid` offered as its descriptor
    /// `fd`. Refuses anything but a sealed board made by `create` with a slot of `slotBytes`.
    static func open(pid: Int32, fd: Int32, slotBytes: Int) throws(WireError) -> ParameterBoard {
        guard pid > 0, fd >= 0, isValid(slotBytes: slotBytes) else {
            throw .sharedMemory("an offer of pid \(pid), descriptor \(fd), a slot of \(slotBytes) bytes is not a parameter board")
        }
        let file = try MemoryFile.open(
            pid: pid, fd: fd, named: fileName, bytes: bytes(slotBytes: slotBytes), writable: false, sealed: true, what: "a Descent parameter board")
        guard file.base.load(as: UInt64.self) == magic, file.base.load(fromByteOffset: 8, as: UInt64.self) == UInt64(slotBytes),
              file.base.load(fromByteOffset: 16, as: UInt64.self) == UInt64(slotCount)
        else {
            throw .sharedMemory("/proc/\(pid)/fd/\(fd) does not start with a Descent parameter board's header")
        }
        return ParameterBoard(file: file, slotBytes: slotBytes)
    }

    /// Where slot i's PARAMS frame lies.
    private func slot(_ i: Int) -> UnsafeMutableRawPointer { base + Self.headerBytes + i * slotBytes }

    /// The coordinator's side: where slot i's frame holds its values, for W, b to be kept and
    /// computed there (room for as many as fill the slot).
    func values(inSlot i: Int) -> UnsafeMutablePointer<Float> {
        (slot(i) + MessageCodec.paramsValuesOffset).assumingMemoryBound(to: Float.self)
    }

    /// The coordinator's side: makes PARAMS for `step` in a slot — around the values where they
    /// lie when they lie in one (`values(inSlot:)`), checksummed but not copied; otherwise copied
    /// into the slot not published last. Returns the reference to send each worker in its place.
    func publish(step: UInt64, values: UnsafeBufferPointer<Float>) -> BoardReference? {
        let length = MessageCodec.paramsFrameBytes(count: values.count)
        guard length <= slotBytes else { return nil }
        let slot: Int
        if let i = (0..<Self.slotCount).first(where: { UnsafePointer(self.values(inSlot: $0)) == values.baseAddress }) {
            MessageCodec.sealParams(step: step, count: values.count, at: self.slot(i))
            slot = i
        } else {
            slot = (lastPublished + 1) % Self.slotCount
            MessageCodec.encodeParams(step: step, values: values, into: self.slot(slot))
        }
        lastPublished = slot
        return BoardReference(slot: UInt32(slot), length: UInt32(length), step: step)
    }

    /// A worker's side: the PARAMS that `reference` names, checked where it lies and viewed there.
    func params(_ reference: BoardReference) throws(WireError) -> Params {
        guard reference.slot < Self.slotCount, Int(reference.length) <= slotBytes else {
            throw .sharedMemory("a reference to slot \(reference.slot), \(reference.length) bytes, is outside the parameter board")
        }
        let frame = UnsafeRawBufferPointer(start: slot(Int(reference.slot)), count: Int(reference.length))
        let params = try MessageCodec.decodeParams(inPlace: frame, owner: self)
        guard params.step == reference.step else {
            throw .sharedMemory("the parameter board holds step \(params.step) where step \(reference.step) was announced")
        }
        return params
    }
}

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
