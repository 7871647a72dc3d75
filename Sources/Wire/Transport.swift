/// A message pipe between the coordinator (a ROUTER, many peers) and a worker (a DEALER, one
/// peer). `ZeroMQTransport` is the real one; `InMemoryTransport` serves unit tests.
public protocol Transport: AnyObject {
    /// Sends one message's frames atomically (one multipart ZeroMQ message).
    /// `peer` is required on a ROUTER, nil on a DEALER.
    func send(_ frames: [[UInt8]], to peer: PeerID?) throws(WireError)
    /// Waits up to `timeoutMilliseconds` (0 = poll, -1 = forever) for one message;
    /// nil when none arrived in time.
    func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope?
    /// On a DEALER: sends a message of one frame of `frameBytes` that `encode` writes at the
    /// address it is given, where the transport can place it without a copy.
    func send(frameBytes: Int, encodedBy encode: (UnsafeMutableRawPointer) -> Void) throws(WireError)
    /// Closes the transport; later sends and receives throw `WireError.closed`.
    /// Closing twice is harmless.
    func close()
}

extension Transport {
    /// Encodes the frame into an array of its own and sends it as `send(_:to:)` does.
    public func send(frameBytes: Int, encodedBy encode: (UnsafeMutableRawPointer) -> Void) throws(WireError) {
        let frame = [UInt8](unsafeUninitializedCapacity: frameBytes) { buffer, initialized in
            encode(UnsafeMutableRawPointer(buffer.baseAddress!))
            initialized = frameBytes
        }
        try send([frame], to: nil)
    }

    /// Encodes `message` and sends it; see `send(_:to:)` for `peer`.
    public func send(_ message: Message, to peer: PeerID?) throws(WireError) {
        try send(MessageCodec.encode(message), to: peer)
    }

    /// Receives one message and decodes it.
    ///
    /// A message that fails to decode is returned as a failure, not thrown: the caller drops
    /// it, counts it and carries on. Only transport failures are thrown.
    public func receiveMessage(
        timeoutMilliseconds: Int
    ) throws(WireError) -> (peer: PeerID?, message: Result<Message, WireError>)? {
        guard let envelope = try receive(timeoutMilliseconds: timeoutMilliseconds) else {
            return nil
        }
        let message = Result { () throws(WireError) -> Message in
            try MessageCodec.decode(envelope)
        }
        return (envelope.peer, message)
    }
}
