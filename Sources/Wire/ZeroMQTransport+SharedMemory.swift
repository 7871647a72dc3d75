#if canImport(Glibc)
import Glibc
#endif

/// Large frames through memory shared with a peer on this machine (docs/PROTOCOL.md, "Shared
/// memory"): the offer and its answer, and frames swapped for references to them and back.
/// The members that take a socket run under the transport's lock.
extension ZeroMQTransport {
    /// A DEALER on an ipc:// endpoint offers the ROUTER a `SharedRegion` with a ring of at least
    /// `sending` bytes for what it sends and one of `receiving` bytes for what it receives (each
    /// should hold the largest frame that is to go through it, twice where frames follow each other
    /// closely; 0 for none that way). Once the ROUTER accepts (its answer is taken in by `receive`,
    /// never returned), frames of 64 KiB or more go through the region when it has room. False
    /// when shared memory does not apply here (not ipc://, turned off) or the region cannot be
    /// made; messages then simply keep to the socket.
    ///
    /// An offer starts over: a region offered before is given up first, for the coordinator that
    /// welcomes this worker anew (it restarted) knows nothing of it.
    @discardableResult
    public func offerSharedMemory(sending: Int, receiving: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        offeredRegion = nil
        regionAccepted = false
        board = nil
        guard let socket, mayOfferRegion, !isRouter,
              let region = try? SharedRegion.create(RingSizes(toCoordinator: sending, toWorker: receiving)) else { return false }
        let offer = RegionHandshake(offer: getpid(), fd: region.fileDescriptor, sizes: region.sizes)
        guard (try? sendFrame(offer.bytes, more: false, on: socket, to: nil)) == true else { return false }
        offeredRegion = region
        return true
    }

    /// Whether frames travel through shared memory: on a DEALER, once its region was accepted;
    /// on a ROUTER, with at least one peer.
    public var usesSharedMemory: Bool {
        lock.withLock { isRouter ? !regions.isEmpty : regionAccepted }
    }

    /// Whether frames to and from `peer` (on a ROUTER) go through shared memory.
    public func sharesMemory(with peer: PeerID) -> Bool {
        lock.withLock { regions[peer] != nil }
    }

    /// Unmaps the region shared with `peer` (on a ROUTER), which has gone or been dropped.
    public func releaseSharedMemory(with peer: PeerID) {
        lock.withLock {
            regions[peer] = nil
            boardPeers.remove(peer)
        }
    }

    // MARK: Shared parameters

    /// On a ROUTER that takes shared memory: makes a `ParameterBoard` for PARAMS frames of
    /// `frameBytes` and offers it to every peer whose region it accepts from now on (docs/PROTOCOL.md,
    /// "Shared memory"). False when shared memory does not apply, or the board cannot be made.
    @discardableResult
    public func shareParameters(frameBytes: Int) -> Bool {
        lock.withLock {
            guard isRouter, acceptsRegions else { return false }
            if let board, board.slotBytes >= frameBytes { return true }
            board = try? ParameterBoard.create(frameBytes: frameBytes)
            boardPeers = []
            return board != nil
        }
    }

    /// Whether `peer` (on a ROUTER) has mapped the shared parameters, and takes `publishParameters`'s
    /// reference in place of a PARAMS message.
    public func readsSharedParameters(_ peer: PeerID) -> Bool {
        lock.withLock { boardPeers.contains(peer) }
    }

    /// On a ROUTER with shared parameters (`shareParameters`): where each of the board's two
    /// slots holds `count` values, for the coordinator to keep its W, b in — the current ones in
    /// one, the next computed into the other — so that `publishParameters` copies nothing; and the
    /// object that keeps them mapped, even once the transport is closed. Nil without a board, or
    /// when `count` values do not fit a slot.
    public func sharedParameterStorage(count: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, owner: AnyObject)? {
        lock.withLock {
            guard isRouter, Int(1).littleEndian == 1, let board, MessageCodec.paramsFrameBytes(count: count) <= board.slotBytes else { return nil }
            return (board.values(inSlot: 0), board.values(inSlot: 1), board)
        }
    }

    /// On a ROUTER: makes PARAMS for `step` on the shared parameters (around the values where they
    /// lie when they are kept there, `sharedParameterStorage`; their one copy for the step
    /// otherwise); the one-frame message to send each peer that `readsSharedParameters` in its place, or
    /// nil without a board, without a peer reading it, or when the values do not fit it.
    public func publishParameters(step: UInt64, values: UnsafeBufferPointer<Float>) -> [[UInt8]]? {
        lock.withLock { boardPeers.isEmpty ? nil : board?.publish(step: step, values: values).map { [$0.bytes] } }
    }

    /// On a DEALER: the PARAMS `envelope` names on the shared parameters, checked and viewed where
    /// it lies (no copy); nil when the envelope is anything else. A reference without a board, or
    /// to a frame that fails its checks, is a failure, as an undecodable message is.
    public func sharedParameters(in envelope: Envelope) -> Result<Params, WireError>? {
        guard envelope.frames.count == 1, let reference = BoardReference(envelope.frames[0]) else { return nil }
        return lock.withLock {
            guard let board else { return .failure(.sharedMemory("a reference to shared parameters, which this worker has not mapped")) }
            return Result { () throws(WireError) in try board.params(reference) }
        }
    }

    /// Frames sent and received through shared memory so far.
    public var sharedFrameCounts: (sent: Int, received: Int) {
        lock.withLock { (framesSentShared, framesReceivedShared) }
    }

    /// Bytes of the frames received through shared memory so far.
    public var sharedBytesReceived: Int {
        lock.withLock { bytesReceivedShared }
    }

    /// Frames that were to go through shared memory but found no room in the ring, and took the
    /// socket instead.
    public var framesSentWithoutRoom: Int {
        lock.withLock { framesWithoutRoom }
    }

    /// The region frames to or from `peer` go through, if any. A DEALER reads its offered region
    /// at once (the ROUTER writes only after accepting) but writes to it only once accepted.
    private func region(for peer: PeerID?) -> SharedRegion? {
        if isRouter { return peer.flatMap { regions[$0] } }
        return offeredRegion
    }

    /// Moves a message's frames of 64 KiB or more into the region shared with `peer`, where it
    /// has room, leaving references in their place (`parts` starts with the peer's identity on a
    /// ROUTER).
    func placeInSharedMemory(_ parts: inout [[UInt8]], to peer: PeerID?) {
        guard let region = isRouter || regionAccepted ? region(for: peer) : nil, region.outgoingCapacity > 0 else { return }
        for index in parts.indices.dropFirst(isRouter ? 1 : 0) where parts[index].count >= Self.zeroCopyBytes {
            guard let reference = region.write(parts[index]) else {
                framesWithoutRoom += 1
                continue
            }
            parts[index] = reference.bytes
            framesSentShared += 1
        }
    }

    /// On a DEALER: sends a message of one frame of `frameBytes` that `encode` writes at the
    /// address it is given — straight into the ring toward the ROUTER when the frame is large
    /// enough to go that way and the ring has room (the frame is then never copied), else into a
    /// frame of its own that is sent as `send` sends one.
    public func send(frameBytes: Int, encodedBy encode: (UnsafeMutableRawPointer) -> Void) throws(WireError) {
        precondition(!isRouter, "a ROUTER sends frames it has encoded")
        let sent = try withSocket { socket throws(WireError) -> Bool in
            guard regionAccepted, frameBytes >= Self.zeroCopyBytes, let region = offeredRegion,
                  let reference = region.write(count: frameBytes, by: encode) else { return false }
            framesSentShared += 1
            try sendFrame(reference.bytes, more: false, on: socket, to: nil)
            return true
        }
        guard !sent else { return }
        let frame = [UInt8](unsafeUninitializedCapacity: frameBytes) { buffer, initialized in
            encode(UnsafeMutableRawPointer(buffer.baseAddress!))
            initialized = frameBytes
        }
        try send([frame], to: nil)
    }

    /// Takes in a message of the shared-memory handshake; false for any other message, which is
    /// the caller's.
    func takeHandshake(_ parts: [[UInt8]], from peer: PeerID?, on socket: UnsafeMutableRawPointer) -> Bool {
        let first = isRouter ? 1 : 0
        guard parts.count == first + 1, let handshake = RegionHandshake(parts[first]) else { return false }
        switch handshake {
        case .offer where isRouter:
            answer(handshake, from: peer!, on: socket)
            return true
        case .answer(let accepted) where !isRouter && offeredRegion != nil:
            regionAccepted = accepted
            if !accepted { offeredRegion = nil }
            return true
        case .boardOffer(let pid, let fd, let slotBytes) where !isRouter && regionAccepted:
            // The board must be the ROUTER's own: the process at the other end of this connection.
            let credentialPID = lastPeerCredentials?.split(separator: ":").last.flatMap { Int32($0) }
            board = credentialPID == pid ? try? ParameterBoard.open(pid: pid, fd: fd, slotBytes: slotBytes) : nil
            _ = try? sendFrame(RegionHandshake.boardAnswer(accepted: board != nil).bytes, more: false, on: socket, to: nil)
            return true
        case .boardAnswer(let accepted) where isRouter && regions[peer!] != nil && board != nil:
            if accepted { boardPeers.insert(peer!) } else { boardPeers.remove(peer!) }
            return true
        default:
            return false
        }
    }

    /// Puts the frames that references name back in their place, copied out of the region; the
    /// payload checksums of those copies, computed as they were made, by part (empty when no
    /// frame came through the region).
    ///
    /// A reference that cannot be followed — outside the ring, longer than a frame may be, from a
    /// peer without a region — stays as it is, and the codec refuses it. One message's frames
    /// were all in the ring at once, so together they are at most a ring long: references that
    /// add up to more (the same frame named again and again) are not followed either.
    func followReferences(_ parts: inout [[UInt8]], from peer: PeerID?) -> [UInt32?] {
        guard let region = region(for: peer) else { return [] }
        var budget = UInt64(region.incomingCapacity)
        var checksums: [UInt32?] = []
        for index in parts.indices.dropFirst(isRouter ? 1 : 0) {
            guard let reference = RingReference(parts[index]), reference.length <= min(maxFrameBytes, budget),
                  let frame = region.readFrame(reference) else { continue }
            budget -= reference.length
            parts[index] = frame.bytes
            if checksums.isEmpty { checksums = Array(repeating: nil, count: parts.count) }
            checksums[index] = frame.payloadChecksum
            framesReceivedShared += 1
            bytesReceivedShared += frame.bytes.count
        }
        return checksums
    }

    /// A ROUTER's answer to an offer: accepted only when the offering process is the one at the
    /// other end of the connection it came on, and its region checks out.
    private func answer(_ offer: RegionHandshake, from peer: PeerID, on socket: UnsafeMutableRawPointer) {
        guard case .offer(let pid, let fd, let sizes) = offer else { return }
        var accepted = false
        let credentialPID = lastPeerCredentials?.split(separator: ":").last.flatMap { Int32($0) }
        if acceptsRegions, credentialPID == pid, let region = try? SharedRegion.open(pid: pid, fd: fd, sizes: sizes) {
            regions[peer] = region
            accepted = true
        }
        _ = try? sendFrame(peer.bytes, more: true, on: socket, to: peer)
        _ = try? sendFrame(RegionHandshake(accepted: accepted).bytes, more: false, on: socket, to: peer)
        boardPeers.remove(peer)
        if accepted, let board {
            let offer = RegionHandshake.boardOffer(pid: getpid(), fd: board.fileDescriptor, slotBytes: board.slotBytes)
            _ = try? sendFrame(peer.bytes, more: true, on: socket, to: peer)
            _ = try? sendFrame(offer.bytes, more: false, on: socket, to: peer)
        }
    }
}
