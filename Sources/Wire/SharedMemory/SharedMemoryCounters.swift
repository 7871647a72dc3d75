/// What went through memory shared with peers rather than through the socket, for logs and
/// metrics; all zero on a transport that shares none.
public struct SharedMemoryCounters: Sendable, Equatable {
    /// Frames written into a ring toward the peer.
    public var framesSent = 0
    /// Frames taken out of a ring from the peer, and their bytes.
    public var framesReceived = 0
    public var bytesReceived = 0
    /// Frames that were to go through a ring but found no room, and took the socket.
    public var framesSentWithoutRoom = 0

    public init() {}
}
