/// One received message as raw frames, with the peer that sent it.
public struct Envelope: Sendable, Equatable {
    /// The sending DEALER, as seen by a ROUTER; nil on a DEALER, which has only one peer.
    public let peer: PeerID?
    /// The message's frames, ready for `MessageCodec.decode`.
    public let frames: [[UInt8]]
    /// The sender's network address (an IP for TCP), when the transport knows it.
    public let address: String?
    /// The sending process, when it runs on this machine and the transport can tell (the peer
    /// credentials of an ipc:// connection; this process, in memory).
    public let senderProcessID: Int32?
    /// The frames (by index) this process took out of memory it shares with the sender, where
    /// they may carry the flag `inSharedMemory` instead of a checksum; empty for a socket's.
    public let framesFromSharedMemory: Set<Int>
    /// Bytes of the one frame left where it lies in shared memory, read in place by the transport's
    /// `decode` (`frames` then holds the reference to it); nil when every frame is in `frames`.
    public let inPlaceFrameBytes: Int?

    public init(
        peer: PeerID?, frames: [[UInt8]], address: String? = nil, senderProcessID: Int32? = nil,
        framesFromSharedMemory: Set<Int> = [], inPlaceFrameBytes: Int? = nil
    ) {
        self.peer = peer
        self.frames = frames
        self.address = address
        self.senderProcessID = senderProcessID
        self.framesFromSharedMemory = framesFromSharedMemory
        self.inPlaceFrameBytes = inPlaceFrameBytes
    }

    /// Bytes of the message: its frames, or the frame it left in shared memory.
    public var byteCount: Int { inPlaceFrameBytes ?? frames.reduce(0) { $0 + $1.count } }
}
