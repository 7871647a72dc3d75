/// The transport-level messages that set shared memory up, never seen by the codec: a worker's
/// offer of a `SharedRegion` (pid, descriptor, ring bytes) and the coordinator's answer; then the
/// coordinator's offer of its `ParameterBoard` (pid, descriptor, slot bytes) and the worker's.
enum RegionHandshake: Equatable {
    case offer(pid: Int32, fd: Int32, sizes: RingSizes)
    case answer(accepted: Bool)
    case boardOffer(pid: Int32, fd: Int32, slotBytes: Int)
    case boardAnswer(accepted: Bool)

    /// "DSMO", "DSMA", "DSMB" and "DSMC".
    static let offerMagic: UInt32 = 0x4F4D_5344
    static let answerMagic: UInt32 = 0x414D_5344
    static let boardOfferMagic: UInt32 = 0x424D_5344
    static let boardAnswerMagic: UInt32 = 0x434D_5344
    /// Bytes of either offer: the process credentials are read for a message this long.
    static let offerBytes = 20
    /// Bytes of either answer.
    static let answerBytes = 8

    var bytes: [UInt8] {
        switch self {
        case .offer(let pid, let fd, let sizes):
            return Self.offer(Self.offerMagic, pid: pid, fd: fd, sizes.toCoordinator, sizes.toWorker)
        case .boardOffer(let pid, let fd, let slotBytes):
            return Self.offer(Self.boardOfferMagic, pid: pid, fd: fd, slotBytes, 0)
        case .answer(let accepted):
            return Self.answer(Self.answerMagic, accepted)
        case .boardAnswer(let accepted):
            return Self.answer(Self.boardAnswerMagic, accepted)
        }
    }

    /// magic, pid, fd and two sizes: 32-bit fields, little-endian like a payload.
    private static func offer(_ magic: UInt32, pid: Int32, fd: Int32, _ first: Int, _ second: Int) -> [UInt8] {
        var writer = PayloadWriter(reserved: 0, capacity: offerBytes)
        writer.write(magic)
        writer.write(pid)
        writer.write(fd)
        writer.write(UInt32(clamping: first))
        writer.write(UInt32(clamping: second))
        return writer.finish()
    }

    /// magic, then 1 or 0.
    private static func answer(_ magic: UInt32, _ accepted: Bool) -> [UInt8] {
        var writer = PayloadWriter(reserved: 0, capacity: answerBytes)
        writer.write(magic)
        writer.write(UInt32(accepted ? 1 : 0))
        return writer.finish()
    }

    init(offer pid: Int32, fd: Int32, sizes: RingSizes) { self = .offer(pid: pid, fd: fd, sizes: sizes) }
    init(accepted: Bool) { self = .answer(accepted: accepted) }

    /// The handshake message a one-frame message is, or nil for any other.
    init?(_ frame: [UInt8]) {
        var reader = PayloadReader(frame, from: 0)
        guard let magic = try? reader.read(UInt32.self, "magic") else { return nil }
        switch (magic, frame.count) {
        case (Self.offerMagic, Self.offerBytes), (Self.boardOfferMagic, Self.offerBytes):
            guard let pid = try? reader.read(Int32.self, "pid"), let fd = try? reader.read(Int32.self, "fd"),
                let first = try? reader.read(UInt32.self, "size"), let second = try? reader.read(UInt32.self, "size")
            else { return nil }
            self =
                magic == Self.offerMagic
                ? .offer(pid: pid, fd: fd, sizes: RingSizes(toCoordinator: Int(first), toWorker: Int(second)))
                : .boardOffer(pid: pid, fd: fd, slotBytes: Int(first))
        case (Self.answerMagic, Self.answerBytes), (Self.boardAnswerMagic, Self.answerBytes):
            guard let accepted = try? reader.read(UInt32.self, "accepted") else { return nil }
            self = magic == Self.answerMagic ? .answer(accepted: accepted != 0) : .boardAnswer(accepted: accepted != 0)
        default:
            return nil
        }
    }
}
