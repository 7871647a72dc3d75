/// The parameters a coordinator shares with its local workers (docs/PROTOCOL.md, "Shared
/// memory"): one memory file with two slots, each holding one PARAMS frame.
///
/// Publishing a step copies its W, b into the slot not published last, as the PARAMS frame the
/// codec would make (flagged `inSharedMemory`, without a checksum), and a worker sent that step's
/// STEP finds it there by its step: no PARAMS message at all. A worker checks the frame where it
/// lies (header, fields) and computes from it: no copy, and no megabyte through the socket per
/// worker. No worker of the running step reads the slot being
/// written: it reads the step's own slot, and only until it has sent its last partial. (A worker
/// the coordinator gave up on may still be reading an older frame: what it computes is for a step
/// that is over, and is ignored.)
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

    /// Slots: the running step's parameters in one, the next step's written into the other.
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
        guard isValid(slotBytes: slotBytes) else {
            throw .sharedMemory("a \(frameBytes)-byte PARAMS frame does not fit a shared slot")
        }
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
            throw .sharedMemory(
                "an offer of pid \(pid), descriptor \(fd), a slot of \(slotBytes) bytes is not a parameter board")
        }
        let file = try MemoryFile.open(
            pid: pid, fd: fd, named: fileName, bytes: bytes(slotBytes: slotBytes), writable: false, sealed: true,
            what: "a Descent parameter board")
        guard file.base.load(as: UInt64.self) == magic,
            file.base.load(fromByteOffset: 8, as: UInt64.self) == UInt64(slotBytes),
            file.base.load(fromByteOffset: 16, as: UInt64.self) == UInt64(slotCount)
        else {
            throw .sharedMemory("/proc/\(pid)/fd/\(fd) does not start with a Descent parameter board's header")
        }
        return ParameterBoard(file: file, slotBytes: slotBytes)
    }

    /// Where slot i's PARAMS frame lies.
    private func slot(_ i: Int) -> UnsafeMutableRawPointer { base + Self.headerBytes + i * slotBytes }

    /// The coordinator's side: writes PARAMS for `step` into the slot not published last; where
    /// it lies, or nil when the values do not fit a slot.
    func publish(step: UInt64, values: UnsafeBufferPointer<Float>) -> BoardReference? {
        let length = MessageCodec.paramsFrameBytes(count: values.count)
        guard length <= slotBytes else { return nil }
        let slot = (lastPublished + 1) % Self.slotCount
        MessageCodec.encodeParams(step: step, values: values, into: self.slot(slot))
        lastPublished = slot
        return BoardReference(slot: UInt32(slot), length: UInt32(length), step: step)
    }

    /// A worker's side: the PARAMS of `step`, from the slot whose frame is that step's, checked
    /// where it lies and viewed there. Every failure is `WireError.sharedMemory`: neither slot may
    /// hold the step any more (the coordinator went on without this worker), or the frame may
    /// change under the check (it is being overwritten by a later step's).
    func params(step: UInt64) throws(WireError) -> Params {
        for i in 0..<Self.slotCount {
            let frame = slot(i)
            // The header's step and payload length, read once: the check below reads them again.
            guard UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) == step else {
                continue
            }
            let payload = UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
            let length = WireProtocol.headerSize + Int(payload)
            guard length <= slotBytes else {
                throw .sharedMemory("step \(step)'s frame on the parameter board is longer than its slot")
            }
            let params: Params
            do {
                params = try MessageCodec.decodeParams(
                    inPlace: UnsafeRawBufferPointer(start: frame, count: length), owner: self)
            } catch {
                throw .sharedMemory("step \(step)'s frame on the parameter board fails its checks: \(error)")
            }
            guard params.step == step else {
                throw .sharedMemory("the parameter board's slot for step \(step) now holds step \(params.step)")
            }
            return params
        }
        throw .sharedMemory("the parameter board no longer holds step \(step)'s parameters")
    }
}
