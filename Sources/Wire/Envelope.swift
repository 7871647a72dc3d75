/// One received message as raw frames, with the peer that sent it.
public struct Envelope: Sendable, Equatable {
    /// The sending DEALER, as seen by a ROUTER; nil on a DEALER, which has only one peer.
    public let peer: PeerID?
    /// The message's frames, ready for `MessageCodec.decode`.
    public let frames: [[UInt8]]
    /// The sender's network address (an IP for TCP), when the transport knows it.
    public let address: String?
    /// Per frame, the CRC-32C of its payload when the transport already computed it over the
    /// frame's bytes as it copied them in (from shared memory), so decoding need not read them
    /// again; empty when none was.
    let payloadChecksums: [UInt32?]

    public init(peer: PeerID?, frames: [[UInt8]], address: String? = nil) {
        self.init(peer: peer, frames: frames, address: address, payloadChecksums: [])
    }

    init(peer: PeerID?, frames: [[UInt8]], address: String?, payloadChecksums: [UInt32?]) {
        precondition(payloadChecksums.isEmpty || payloadChecksums.count == frames.count, "a checksum per frame, or none")
        self.peer = peer
        self.frames = frames
        self.address = address
        self.payloadChecksums = payloadChecksums
    }
}
