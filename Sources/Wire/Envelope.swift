/// One received message as raw frames, with the peer that sent it.
public struct Envelope: Sendable, Equatable {
    /// The sending DEALER, as seen by a ROUTER; nil on a DEALER, which has only one peer.
    public let peer: PeerID?
    /// The message's frames, ready for `MessageCodec.decode`.
    public let frames: [[UInt8]]

    public init(peer: PeerID?, frames: [[UInt8]]) {
        self.peer = peer
        self.frames = frames
    }
}
