/// Everything that can go wrong in Wire: a frame that fails a check, or the transport failing.
///
/// Frame errors mean "drop this message and count it"; they never say the peer is gone.
public enum WireError: Error, Equatable, CustomStringConvertible {
    // MARK: Frames and payloads
    /// The frame does not start with `WireProtocol.magic`: not a Descent peer.
    case badMagic(UInt32)
    /// The peer speaks another protocol version.
    case versionMismatch(expected: UInt16, got: UInt16)
    /// The header's kind byte names no `MessageKind`.
    case unknownKind(UInt8)
    /// The header's flags byte is not 0; no flags are defined in this version.
    case unsupportedFlags(UInt8)
    /// A frame is shorter than its header, or than the payload length its header states.
    case truncated(expected: Int, got: Int)
    /// Bytes left over after a frame's stated payload, or after a payload's last field.
    case trailingBytes(Int)
    /// A frame states a payload longer than `WireProtocol.maxFramePayload`.
    case oversizedFrame(Int)
    /// The payload's CRC-32C is not the one in the header: the bytes were damaged.
    case badChecksum(expected: UInt32, got: UInt32)
    /// The frames of a message are not parts 0..<parts of one message, each exactly once.
    case badPartNumbering
    /// The parts of a message disagree on kind or step, or a non-final part is not full.
    case inconsistentParts
    /// The payload's fields are out of bounds or inconsistent with each other.
    case malformedPayload(String)
    /// A message with no frames at all.
    case emptyMessage

    // MARK: Transport
    /// A ZeroMQ call failed; `code` is `zmq_errno()`, `message` its `zmq_strerror`.
    case zmq(operation: String, code: Int32, message: String)
    /// A ROUTER was asked to send to a peer that is not (or no longer) connected.
    case peerUnreachable(PeerID)
    /// A ROUTER send without a peer, or a DEALER send with one.
    case misaddressed(String)
    /// The transport was closed.
    case closed
    /// A send could not complete within the send timeout.
    case timedOut
    /// Memory shared with a peer on the same machine could not be set up.
    case sharedMemory(String)

    public var description: String {
        switch self {
        case .badMagic(let magic):
            "bad magic 0x\(hex(magic)), expected 0x\(hex(WireProtocol.magic)): not a Descent peer"
        case .versionMismatch(let expected, let got):
            "protocol version mismatch: expected \(expected), got \(got)"
        case .unknownKind(let kind):
            "unknown message kind \(kind)"
        case .unsupportedFlags(let flags):
            "unsupported header flags 0x\(hex(flags))"
        case .truncated(let expected, let got):
            "truncated frame: expected \(expected) bytes, got \(got)"
        case .trailingBytes(let count):
            "\(count) unexpected trailing bytes"
        case .oversizedFrame(let length):
            "frame payload of \(length) bytes exceeds the limit of \(WireProtocol.maxFramePayload)"
        case .badChecksum(let expected, let got):
            "bad checksum: header says 0x\(hex(expected)), payload has 0x\(hex(got))"
        case .badPartNumbering:
            "message parts are missing, duplicated or out of order"
        case .inconsistentParts:
            "message parts disagree on kind or step, or a non-final part is not full"
        case .malformedPayload(let reason):
            "malformed payload: \(reason)"
        case .emptyMessage:
            "empty message: no frames"
        case .zmq(let operation, let code, let message):
            "\(operation) failed: \(message) (errno \(code))"
        case .peerUnreachable(let peer):
            "peer \(peer) is not connected"
        case .misaddressed(let reason):
            "misaddressed send: \(reason)"
        case .closed:
            "transport is closed"
        case .timedOut:
            "send timed out"
        case .sharedMemory(let reason):
            "shared memory: \(reason)"
        }
    }
}

private func hex(_ value: some FixedWidthInteger) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, value.bitWidth / 4 - digits.count)) + digits
}
