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

    private static func offer(_ magic: UInt32, pid: Int32, fd: Int32, _ first: Int, _ second: Int) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: offerBytes)
        frame.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: pid.littleEndian, toByteOffset: 4, as: Int32.self)
            raw.storeBytes(of: fd.littleEndian, toByteOffset: 8, as: Int32.self)
            raw.storeBytes(of: UInt32(clamping: first).littleEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: UInt32(clamping: second).littleEndian, toByteOffset: 16, as: UInt32.self)
        }
        return frame
    }

    private static func answer(_ magic: UInt32, _ accepted: Bool) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 8)
        frame.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt32(accepted ? 1 : 0).littleEndian, toByteOffset: 4, as: UInt32.self)
        }
        return frame
    }

    init(offer pid: Int32, fd: Int32, sizes: RingSizes) { self = .offer(pid: pid, fd: fd, sizes: sizes) }
    init(accepted: Bool) { self = .answer(accepted: accepted) }

    /// The handshake message a one-frame message is, or nil for any other.
    init?(_ frame: [UInt8]) {
        guard frame.count >= 8 else { return nil }
        let magic = frame.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        let fields = frame.withUnsafeBytes { raw in
            (pid: Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: Int32.self)),
             fd: frame.count < 12 ? 0 : Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: Int32.self)),
             first: frame.count < 16 ? 0 : Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self))),
             second: frame.count < 20 ? 0 : Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))))
        }
        switch (magic, frame.count) {
        case (Self.offerMagic, Self.offerBytes):
            self = .offer(pid: fields.pid, fd: fields.fd, sizes: RingSizes(toCoordinator: fields.first, toWorker: fields.second))
        case (Self.boardOfferMagic, Self.offerBytes):
            self = .boardOffer(pid: fields.pid, fd: fields.fd, slotBytes: fields.first)
        case (Self.answerMagic, 8):
            self = .answer(accepted: fields.pid != 0)
        case (Self.boardAnswerMagic, 8):
            self = .boardAnswer(accepted: fields.pid != 0)
        default:
            return nil
        }
    }
}
