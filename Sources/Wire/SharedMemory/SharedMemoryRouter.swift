#if canImport(Glibc)
    import Glibc
#endif

/// The coordinator's side of shared memory, over the transport it binds (see
/// `SharedMemoryTransport`): it maps the region each local worker offers, offers its
/// `ParameterBoard` to each, and writes a step's PARAMS onto the board instead of sending it to
/// every worker that mapped it.
///
/// A gradient segment a worker encoded straight into its ring (a float32 PARTIAL flagged
/// `inSharedMemory`) is not copied out: `receive` hands out its reference, `decode` reads it where
/// it lies — its gradients a view of the ring — and the ring takes it back at the next `receive`.
/// What is decoded from such a frame must be done with by then: the coordinator adds a partial
/// (or copies it into the accumulator) before it receives the next message.
///
/// Used by one thread, the coordinator's, as the transport it wraps is.
public final class SharedMemoryRouter: CoordinatorTransport {
    private let inner: CoordinatorTransport
    /// The largest frame taken from a peer: the wrapped transport's limit, kept for frames that
    /// come through a ring too.
    private let maxFrameBytes: UInt64
    /// Each peer's accepted region.
    private var regions: [PeerID: SharedRegion] = [:]
    /// The parameters shared with local workers, and the peers that mapped them.
    private var board: ParameterBoard?
    private var boardPeers: Set<PeerID> = []
    /// The PARAMS last written to the board (not kept alive).
    private weak var published: OutgoingParams?
    /// The frame the last `receive` left in its ring for `decode` to read in place.
    private var handedOut: (peer: PeerID, region: SharedRegion, reference: RingReference)?
    private var counters = SharedMemoryCounters()

    /// Shares memory with the local workers of `inner`, which is bound where
    /// `SharedMemoryTransport.applies`. `parameterCount`: the values of each step's PARAMS, for
    /// a board that holds them (none when nil, or when it cannot be made). `maxFrameBytes`: the
    /// largest frame `inner` takes from a peer (-1 for no limit).
    public init(over inner: CoordinatorTransport, parameterCount: Int?, maxFrameBytes: Int64) {
        self.inner = inner
        self.maxFrameBytes = maxFrameBytes < 0 ? .max : UInt64(maxFrameBytes)
        board = parameterCount.flatMap {
            try? ParameterBoard.create(frameBytes: MessageCodec.paramsFrameBytes(count: $0))
        }
    }

    public var boundEndpoint: String? { inner.boundEndpoint }

    public var sharedMemoryCounters: SharedMemoryCounters { counters }

    public func send(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) {
        var frames = frames
        regions[peer]?.place(&frames, counting: &counters)
        do {
            try inner.send(frames, to: peer)
        } catch {
            if case .peerUnreachable = error { forget(peer) }
            throw error
        }
    }

    /// Frames that wait for room keep to the socket: a message turned away leaves nothing behind
    /// in a ring.
    public func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) -> Bool {
        try inner.sendIfRoom(frames, to: peer)
    }

    /// Nothing for a peer that mapped the board — the step's values are copied onto it the first
    /// time, and the peer takes them from there when the step's STEP comes — the frames
    /// themselves for any other. Returns the bytes sent.
    public func send(_ params: OutgoingParams, to peer: PeerID) throws(WireError) -> Int {
        guard boardPeers.contains(peer), publish(params) else {
            let frames = params.frames
            try send(frames, to: peer)
            return frames.reduce(0) { $0 + $1.count }
        }
        return 0
    }

    private func publish(_ params: OutgoingParams) -> Bool {
        if published === params { return true }
        guard board?.publish(step: params.step, values: params.values) != nil else { return false }
        published = params
        return true
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        if let handed = handedOut {
            handed.region.release(handed.reference)
            handedOut = nil
        }
        let deadline = ReceiveDeadline(timeoutMilliseconds: timeoutMilliseconds)
        while true {
            guard let envelope = try inner.receive(timeoutMilliseconds: deadline.remainingMilliseconds) else {
                return nil
            }
            guard let peer = envelope.peer else { return envelope }
            if take(envelope, from: peer) { continue }
            guard let region = regions[peer] else { return envelope }
            if let inPlace = leaveInPlace(envelope, from: peer, in: region) { return inPlace }
            var frames = envelope.frames
            let followed = region.follow(&frames, maxFrameBytes: maxFrameBytes, counting: &counters)
            return Envelope(
                peer: peer, frames: frames, address: envelope.address, senderProcessID: envelope.senderProcessID,
                framesFromSharedMemory: followed)
        }
    }

    /// Reads a frame left in its ring in place; any other message as the codec does.
    public func decode(_ envelope: Envelope) -> Result<Message, WireError> {
        guard let handed = handedOut, envelope.inPlaceFrameBytes != nil, envelope.peer == handed.peer,
            envelope.frames.count == 1, RingReference(envelope.frames[0]) == handed.reference,
            let frame = handed.region.view(handed.reference)
        else {
            return Result { () throws(WireError) -> Message in
                try MessageCodec.decode(envelope.frames, fromSharedMemory: envelope.framesFromSharedMemory)
            }
        }
        return Result { () throws(WireError) -> Message in
            .partial(try MessageCodec.decodePartial(inPlace: frame, owner: handed.region))
        }
    }

    /// `envelope` with its one frame left in the ring, when that frame is a float32 PARTIAL the
    /// peer encoded there (flagged `inSharedMemory`); nil for any other message.
    private func leaveInPlace(_ envelope: Envelope, from peer: PeerID, in region: SharedRegion) -> Envelope? {
        guard envelope.frames.count == 1, let reference = RingReference(envelope.frames[0]),
            reference.length <= maxFrameBytes, let frame = region.view(reference),
            frame.count >= WireProtocol.headerSize,
            frame[6] == MessageKind.partial.rawValue, frame[7] == FrameHeader.inSharedMemory
        else { return nil }
        handedOut = (peer, region, reference)
        counters.framesReceived += 1
        counters.bytesReceived += frame.count
        return Envelope(
            peer: peer, frames: envelope.frames, address: envelope.address,
            senderProcessID: envelope.senderProcessID, framesFromSharedMemory: [0], inPlaceFrameBytes: frame.count)
    }

    public func forget(_ peer: PeerID) {
        regions[peer] = nil
        boardPeers.remove(peer)
        inner.forget(peer)
    }

    public func route(to peer: PeerID) -> String? {
        guard regions[peer] != nil else { return inner.route(to: peer) }
        let board = boardPeers.contains(peer) ? "; it computes from the shared parameters" : ""
        return "large frames go through shared memory\(board)"
    }

    public func close() {
        inner.close()
        regions = [:]
        board = nil
        boardPeers = []
    }

    // MARK: Handshake

    /// Takes in a message of the layer's own handshake; false for any other message, which is
    /// the caller's.
    private func take(_ envelope: Envelope, from peer: PeerID) -> Bool {
        guard envelope.frames.count == 1, let handshake = RegionHandshake(envelope.frames[0]) else { return false }
        switch handshake {
        case .offer(let pid, let fd, let sizes):
            answer(pid: pid, fd: fd, sizes: sizes, from: peer, sentBy: envelope.senderProcessID)
            return true
        case .boardAnswer(let accepted) where regions[peer] != nil && board != nil:
            if accepted { boardPeers.insert(peer) } else { boardPeers.remove(peer) }
            return true
        default:
            return false
        }
    }

    /// Accepts a region only when the offering process is the one at the other end of the
    /// connection it came on, and the region checks out; then offers the board.
    private func answer(pid: Int32, fd: Int32, sizes: RingSizes, from peer: PeerID, sentBy sender: Int32?) {
        boardPeers.remove(peer)
        regions[peer] = sender == pid ? try? SharedRegion.open(pid: pid, fd: fd, sizes: sizes) : nil
        let accepted = regions[peer] != nil
        try? inner.send([RegionHandshake(accepted: accepted).bytes], to: peer)
        if accepted, let board {
            let offer = RegionHandshake.boardOffer(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes)
            try? inner.send([offer.bytes], to: peer)
        }
    }
}
