/// One received message as raw frames, with the peer that sent it.
public struct Envelope: Sendable, Equatable {
    /// The sending DEALER, as seen by a ROUTER; nil on a DEALER, which has only one peer.
    public let peer: PeerID?
    /// The message's frames, ready for `MessageCodec.decode`.
    public let frames: [[UInt8]]
    /// The sender's network address (an IP for TCP), when the transport knows it.
    public let address: String?

    public init(peer: PeerID?, frames: [[UInt8]], address: String? = nil) {
        self.peer = peer
        self.frames = frames
        self.address = address
    }
}
