/// One end of a message pipe between the coordinator (a ROUTER, many peers) and a worker (a
/// DEALER, one peer). The roles see only the narrow protocols built on it: `CoordinatorTransport`
/// and `WorkerTransport`. `ZeroMQTransport` is the real pipe, `InMemoryTransport` one for tests in
/// one process; `SharedMemoryRouter` and `SharedMemoryDealer` are a layer over either, and
/// `FaultInjectingTransport` one over a worker's.
public protocol Transport: AnyObject {
    /// Waits up to `timeoutMilliseconds` (0 = poll, -1 = forever) for one message;
    /// nil when none arrived in time.
    func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope?
    /// The message `envelope` carries. The default is `MessageCodec.decode`; a transport that
    /// delivers some messages its own way (shared parameters, read where they lie) reads those.
    func decode(_ envelope: Envelope) -> Result<Message, WireError>
    /// What has gone through memory shared with peers so far (zero for a transport that shares none).
    var sharedMemoryCounters: SharedMemoryCounters { get }
    /// Closes the transport; later sends and receives throw `WireError.closed`.
    /// Closing twice is harmless.
    func close()
}

extension Transport {
    public func decode(_ envelope: Envelope) -> Result<Message, WireError> {
        Result { () throws(WireError) -> Message in
            try MessageCodec.decode(envelope.frames, fromSharedMemory: envelope.framesFromSharedMemory)
        }
    }

    public var sharedMemoryCounters: SharedMemoryCounters { SharedMemoryCounters() }

    /// Receives one message and decodes it.
    ///
    /// A message that fails to decode is returned as a failure, not thrown: the caller drops
    /// it, counts it and carries on. Only transport failures are thrown.
    public func receiveMessage(
        timeoutMilliseconds: Int
    ) throws(WireError) -> (peer: PeerID?, message: Result<Message, WireError>)? {
        guard let envelope = try receive(timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        return (envelope.peer, decode(envelope))
    }
}

/// What a coordinator needs from its transport: the ROUTER side, one queue per worker.
public protocol CoordinatorTransport: Transport {
    /// The endpoint bound, with a wildcard port resolved (`tcp://127.0.0.1:41234`); nil once closed.
    var boundEndpoint: String? { get }
    /// Sends one message's frames atomically to `peer`; `WireError.peerUnreachable` when it is gone.
    func send(_ frames: [[UInt8]], to peer: PeerID) throws(WireError)
    /// Sends `frames` only if `peer`'s queue has room now: false, and nothing sent, when it is
    /// full. What lets a sender keep a bounded window of messages in flight without blocking.
    func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) -> Bool
    /// Sends a step's PARAMS to `peer`, as frames or another way the transport has to that peer;
    /// returns the bytes that went through the transport.
    func send(_ params: OutgoingParams, to peer: PeerID) throws(WireError) -> Int
    /// Lets go of what the transport keeps for `peer`, which has gone or been dropped.
    func forget(_ peer: PeerID)
    /// How frames to and from `peer` travel, for the log, when not simply through the transport.
    func route(to peer: PeerID) -> String?
}

extension CoordinatorTransport {
    public func send(_ params: OutgoingParams, to peer: PeerID) throws(WireError) -> Int {
        let frames = params.frames
        try send(frames, to: peer)
        return frames.reduce(0) { $0 + $1.count }
    }

    public func forget(_ peer: PeerID) {}

    public func route(to peer: PeerID) -> String? { nil }

    /// Encodes `message` and sends it to `peer`.
    public func send(_ message: Message, to peer: PeerID) throws(WireError) {
        try send(MessageCodec.encode(message), to: peer)
    }
}

/// What a worker needs from its transport: the DEALER side, one peer (the coordinator).
public protocol WorkerTransport: Transport {
    /// Sends one message's frames atomically to the coordinator.
    func send(_ frames: [[UInt8]]) throws(WireError)
    /// Sends a message of one frame of `frameBytes` that `encode` writes at the address it is
    /// given: where the frame travels from, when the transport has such a place, which it names.
    func send(frameBytes: Int, encodedBy encode: (UnsafeMutableRawPointer, FramePlace) -> Void) throws(WireError)
    /// Starts a session with a coordinator (after each WELCOME), with up to `bytesInFlight` bytes
    /// of frames on their way to it at once; a transport with a faster path to set up does it here.
    func beginSession(bytesInFlight: Int)
    /// Why the connection could not be secured (e.g. the coordinator refused this worker's CURVE
    /// key), as a sentence; nil when nothing failed.
    func handshakeFailure() -> String?
    /// The parameters of `step` where the coordinator shares them with this worker instead of
    /// sending PARAMS (`SharedMemoryDealer`); nil for a transport that shares none.
    func sharedParameters(step: UInt64) -> Result<Params, WireError>?
}

extension WorkerTransport {
    public func send(
        frameBytes: Int, encodedBy encode: (UnsafeMutableRawPointer, FramePlace) -> Void
    ) throws(WireError) {
        let frame = [UInt8](unsafeUninitializedCapacity: frameBytes) { buffer, initialized in
            encode(UnsafeMutableRawPointer(buffer.baseAddress!), .socket)
            initialized = frameBytes
        }
        try send([frame])
    }

    public func beginSession(bytesInFlight: Int) {}

    public func handshakeFailure() -> String? { nil }

    public func sharedParameters(step: UInt64) -> Result<Params, WireError>? { nil }

    /// Encodes `message` and sends it to the coordinator.
    public func send(_ message: Message) throws(WireError) {
        try send(MessageCodec.encode(message))
    }
}
