/// A worker's transport when it takes part in the broadcast tree (`worker --relay`): the DEALER
/// to the coordinator, plus an inbox (a ROUTER bound at the relay endpoint) where its parent in
/// the tree sends each step's PARAMS_PART messages, and a DEALER to each of its children.
///
/// Every PARAMS_PART that arrives, from the coordinator or the parent, is forwarded to the
/// children before the worker sees it, so the parameters flow down the tree piece by piece while
/// each worker assembles its own copy. RELAY messages from the coordinator set the children and
/// the parent's address; the inbox takes PARAMS_PART messages from that address only, and
/// nothing else. A child whose queue is full misses the piece: it is then a late worker, and the
/// coordinator treats it as one.
public final class RelayDealer: WorkerTransport, @unchecked Sendable {
    private let coordinator: ZeroMQTransport
    private let inbox: ZeroMQTransport
    /// The endpoint the inbox is bound to, with a wildcard port resolved: what HELLO offers.
    public let endpoint: String
    private var parentAddress = ""
    private var children: [(endpoint: String, socket: ZeroMQTransport)] = []
    private let childOptions: ZeroMQOptions
    /// Pieces forwarded to children, and pieces a child's full queue made this worker drop.
    public private(set) var forwarded = 0
    public private(set) var dropped = 0
    /// Messages the inbox refused: from another address than the parent's, or not PARAMS_PART.
    public private(set) var refused = 0

    /// Binds the inbox at `endpoint` (`tcp://HOST:PORT`, the port may be `*`) beside `coordinator`.
    public init(over coordinator: ZeroMQTransport, bind endpoint: String) throws(WireError) {
        var options = ZeroMQOptions()
        options.receiveHighWaterMark = 256
        let inbox = try ZeroMQTransport.bind(endpoint, options: options)
        guard let bound = inbox.boundEndpoint else { throw .closed }
        self.coordinator = coordinator
        self.inbox = inbox
        self.endpoint = bound
        var child = ZeroMQOptions()
        // About four steps of pieces for a 1 MB model: a dead child costs little memory.
        child.sendHighWaterMark = 64
        childOptions = child
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        let deadline = ReceiveDeadline(timeoutMilliseconds: timeoutMilliseconds)
        while true {
            let ready = try ZeroMQTransport.waitAny(
                [coordinator, inbox], timeoutMilliseconds: deadline.remainingMilliseconds)
            if ready.contains(1), let envelope = try inbox.receive(timeoutMilliseconds: 0) {
                if isPiece(envelope.frames), !parentAddress.isEmpty, envelope.address == parentAddress {
                    forward(envelope.frames)
                    return Envelope(peer: nil, frames: envelope.frames, address: envelope.address)
                }
                refused += 1
            }
            if ready.contains(0), let envelope = try coordinator.receive(timeoutMilliseconds: 0) {
                if isPiece(envelope.frames) { forward(envelope.frames) }
                if MessageCodec.peekKind(envelope.frames) == MessageKind.relay.rawValue,
                    case .success(.relay(let relay)) = decode(envelope)
                {
                    try attach(relay)
                }
                return envelope
            }
            if ready.isEmpty && deadline.remainingMilliseconds == 0 { return nil }
        }
    }

    public func send(_ frames: [[UInt8]]) throws(WireError) {
        try coordinator.send(frames)
    }

    public func handshakeFailure() -> String? {
        coordinator.handshakeFailure()
    }

    public func close() {
        for child in children { child.socket.close() }
        children = []
        inbox.close()
        coordinator.close()
    }

    /// The children and parent a RELAY names: sockets to new children are opened, those to
    /// children no longer named closed (unsent pieces dropped).
    private func attach(_ relay: Relay) throws(WireError) {
        parentAddress = relay.parentAddress
        var kept: [(endpoint: String, socket: ZeroMQTransport)] = []
        for child in children {
            if relay.children.contains(child.endpoint) { kept.append(child) } else { child.socket.close() }
        }
        for endpoint in relay.children where !kept.contains(where: { $0.endpoint == endpoint }) {
            kept.append((endpoint, try ZeroMQTransport.connect(endpoint, options: childOptions)))
        }
        children = kept
    }

    private func forward(_ frames: [[UInt8]]) {
        for child in children {
            if (try? child.socket.sendIfRoom(frames)) == true { forwarded += 1 } else { dropped += 1 }
        }
    }

    private func isPiece(_ frames: [[UInt8]]) -> Bool {
        frames.count == 1 && MessageCodec.peekKind(frames) == MessageKind.paramsPart.rawValue
    }
}
