#if canImport(Glibc)
    import Glibc
#endif

/// A worker's side of shared memory, over the transport it connects with (see
/// `SharedMemoryTransport`): it offers the coordinator a region at each session's start, sends its
/// large frames through the region's ring, and computes from the coordinator's `ParameterBoard`
/// once it has mapped it.
///
/// `@unchecked Sendable`: a worker sends from two threads (heartbeats beside the loop), so every
/// use of the region and the board happens under `lock`, and a frame's place in the ring and its
/// reference's place in the socket are taken together. A `receive` waits on the wrapped transport
/// without the lock, so it never holds up a send.
public final class SharedMemoryDealer: WorkerTransport, @unchecked Sendable {
    private let inner: WorkerTransport
    private let lock = Lock()
    /// The region offered, and whether the coordinator accepted it.
    private var region: SharedRegion?
    private var regionAccepted = false
    /// The coordinator's parameters, once mapped.
    private var board: ParameterBoard?
    private var counters = SharedMemoryCounters()

    /// Shares memory with the coordinator `inner` is connected to, where
    /// `SharedMemoryTransport.applies`.
    public init(over inner: WorkerTransport) {
        self.inner = inner
    }

    public var sharedMemoryCounters: SharedMemoryCounters { lock.withLock { counters } }

    /// Whether frames go through shared memory: the coordinator accepted the region.
    public var usesSharedMemory: Bool { lock.withLock { regionAccepted } }

    /// Offers the coordinator a region with a ring of `bytesInFlight` bytes toward it and none
    /// toward this worker (PARAMS comes through the board).
    public func beginSession(bytesInFlight: Int) {
        offer(sending: bytesInFlight, receiving: 0)
    }

    /// Offers the coordinator a `SharedRegion` with a ring of at least `sending` bytes for what
    /// this worker sends and one of `receiving` bytes for what it receives (each should hold the
    /// largest frame that is to go through it, twice where frames follow each other closely; 0
    /// for none that way). The answer is taken in by `receive`, never returned. False when the
    /// region cannot be made or offered; messages then simply keep to the socket.
    ///
    /// An offer starts over: a region offered before is given up first, for the coordinator that
    /// welcomes this worker anew (it restarted) knows nothing of it.
    @discardableResult
    public func offer(sending: Int, receiving: Int) -> Bool {
        lock.withLock {
            (region, regionAccepted, board) = (nil, false, nil)
            guard let offered = try? SharedRegion.create(RingSizes(toCoordinator: sending, toWorker: receiving)) else {
                return false
            }
            let offer = RegionHandshake(offer: getpid(), fd: offered.fileDescriptor, sizes: offered.sizes)
            guard (try? inner.send([offer.bytes])) != nil else { return false }
            region = offered
            return true
        }
    }

    public func send(_ frames: [[UInt8]]) throws(WireError) {
        try lock.withLock { () throws(WireError) in
            var frames = frames
            if regionAccepted { region?.place(&frames, counting: &counters) }
            try inner.send(frames)
        }
    }

    /// Writes a large frame straight into the ring when it has room (the frame is then never
    /// copied, nor checksummed), else into a frame of its own.
    public func send(
        frameBytes: Int, encodedBy encode: (UnsafeMutableRawPointer, FramePlace) -> Void
    ) throws(WireError) {
        let sent = try lock.withLock { () throws(WireError) -> Bool in
            guard regionAccepted, frameBytes >= SharedMemoryTransport.frameBytes, let region else { return false }
            guard let reference = region.write(count: frameBytes, by: { encode($0, .sharedMemory) }) else {
                counters.framesSentWithoutRoom += 1
                return false
            }
            counters.framesSent += 1
            try inner.send([reference.bytes])
            return true
        }
        guard !sent else { return }
        let frame = [UInt8](unsafeUninitializedCapacity: frameBytes) { buffer, initialized in
            encode(UnsafeMutableRawPointer(buffer.baseAddress!), .socket)
            initialized = frameBytes
        }
        try lock.withLock { () throws(WireError) in try inner.send([frame]) }
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        let deadline = ReceiveDeadline(timeoutMilliseconds: timeoutMilliseconds)
        while true {
            guard let envelope = try inner.receive(timeoutMilliseconds: deadline.remainingMilliseconds) else {
                return nil
            }
            let taken = lock.withLock { () -> Envelope? in
                if take(envelope) { return nil }
                guard let region else { return envelope }
                var frames = envelope.frames
                // The ring toward this worker is its own choice of size, which bounds what it copies.
                let followed = region.follow(&frames, maxFrameBytes: .max, counting: &counters)
                return Envelope(
                    peer: nil, frames: frames, address: envelope.address, senderProcessID: envelope.senderProcessID,
                    framesFromSharedMemory: followed)
            }
            if let taken { return taken }
        }
    }

    /// The parameters of `step` on the coordinator's board, read where they lie; nil when this
    /// worker has not mapped it. They fail as `WireError.sharedMemory` when the board no longer
    /// holds the step (the coordinator went on without this worker) or they fail their checks.
    public func sharedParameters(step: UInt64) -> Result<Params, WireError>? {
        lock.withLock {
            board.map { board in Result { () throws(WireError) -> Params in try board.params(step: step) } }
        }
    }

    public func handshakeFailure() -> String? { inner.handshakeFailure() }

    public func close() {
        lock.withLock { (region, regionAccepted, board) = (nil, false, nil) }
        inner.close()
    }

    /// Takes in a message of the layer's own handshake; false for any other message, which is
    /// the caller's. Runs under `lock`.
    private func take(_ envelope: Envelope) -> Bool {
        guard envelope.frames.count == 1, let handshake = RegionHandshake(envelope.frames[0]) else { return false }
        switch handshake {
        case .answer(let accepted) where region != nil:
            regionAccepted = accepted
            if !accepted { region = nil }
            return true
        case .boardOffer(let pid, let fd, let slotBytes) where regionAccepted:
            // The board must be the coordinator's own: the process at the other end of this connection.
            let mine = envelope.senderProcessID == pid
            board = mine ? try? ParameterBoard.open(pid: pid, fd: fd, slotBytes: slotBytes) : nil
            try? inner.send([RegionHandshake.boardAnswer(accepted: board != nil).bytes])
            return true
        default:
            return false
        }
    }
}
