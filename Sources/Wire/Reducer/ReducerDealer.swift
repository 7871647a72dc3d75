/// A reducer's transport (`worker --reduce-at`): the DEALER to the coordinator, plus an inbox (a
/// ROUTER bound at the reducer endpoint) where workers send the pieces of their partial gradients
/// that fall in this reducer's range of the parameters.
///
/// A worker's first message on its connection to the inbox is a JOIN with the token the
/// coordinator gave it (REDUCERS); the dealer remembers the token the connection joined with
/// and returns the JOIN (whatever its token), so that a reducer that sends the workers their
/// parameters (`--broadcast reducers`) can send one that joins late its share of the step's. Past
/// the JOIN the inbox delivers PARTIALs only: any other kind (REDUCE_STEP, RANGE_STATE and the
/// rest are the coordinator's to send) is dropped and counted in `refused`, whatever its sender's
/// token, and so is any message from a connection that has not joined. A PARTIAL from a
/// connection whose token is not in `allowedTokens` is held (up to `maxHeld` messages and
/// `maxHeldBytes`) and delivered once its token is allowed: a worker may send its first pieces
/// before the reducer has read the REDUCE_STEP that names it, and a piece lost there would stall
/// the step until the coordinator computed it. When the hold is full, the token holding the most
/// bytes loses its oldest message, so that a peer joined with a made-up token pushes out its own
/// messages, not a worker's. With CURVE the inbox is a CURVE server with the reducer's own key pair that
/// admits any client key: no ZAP handler runs in a reducer's process, so libzmq lets every client
/// through the handshake, and the tokens decide.
///
/// Envelopes from the inbox carry the sending connection as `peer` (`token(of:)` names its
/// worker); those from the coordinator carry none. The coordinator's messages are taken first
/// when both have some, so a flood of pieces never holds up a REDUCE_STEP.
public final class ReducerDealer: WorkerTransport, @unchecked Sendable {
    private let coordinator: ZeroMQTransport
    private let inbox: ZeroMQTransport
    /// The endpoint the inbox is bound to, with a wildcard port resolved: what HELLO offers as
    /// `reducerEndpoint`.
    public let endpoint: String
    /// The inbox's CURVE public key (Z85), what HELLO offers as `reducerPublicKey`; empty when
    /// the inbox is plaintext.
    public let publicKey: String
    private let lock = Lock()
    private var allowed: Set<UInt64> = []
    private var joined: [PeerID: UInt64] = [:]
    private var refusedCount = 0
    /// Messages from joined connections whose token is not allowed yet, oldest first.
    private var held: [(envelope: Envelope, token: UInt64, bytes: Int)] = []
    /// The bytes of `held`, by token.
    private var heldBytes: [UInt64: Int] = [:]

    /// The most connections the dealer remembers a JOIN of; a JOIN beyond them is refused.
    public static let maxJoined = 4096
    /// The most messages held for tokens not allowed yet.
    public static let maxHeld = 1024
    /// The most bytes of messages held for tokens not allowed yet.
    public static let maxHeldBytes = 64 << 20

    /// Binds the inbox at `endpoint` (`tcp://HOST:PORT`, the port may be `*`) beside
    /// `coordinator`. `curve` names the reducer's own key pair by its secret key (`.server`, or
    /// the `.client` keys it connects to the coordinator with); nil for a plaintext inbox.
    public init(over coordinator: ZeroMQTransport, bind endpoint: String, curve: CurveSecurity?) throws(WireError) {
        var options = ZeroMQOptions()
        options.receiveHighWaterMark = 256
        var publicKey = ""
        switch curve {
        case nil:
            break
        case .server(let secretKey), .client(let secretKey, _, _):
            guard let key = CurveKeys.publicKey(forSecret: secretKey) else {
                throw .zmq(operation: "zmq_curve_public", code: 22, message: "not a Z85 CURVE secret key")
            }
            options.curve = .server(secretKey: secretKey)
            publicKey = key
        }
        let inbox = try ZeroMQTransport.bind(endpoint, options: options)
        guard let bound = inbox.boundEndpoint else { throw .closed }
        self.coordinator = coordinator
        self.inbox = inbox
        self.endpoint = bound
        self.publicKey = publicKey
    }

    /// The tokens of the workers whose pieces the inbox takes; the reducer sets them from each
    /// REDUCE_STEP. Messages are judged when they arrive.
    public var allowedTokens: Set<UInt64> {
        get { lock.withLock { allowed } }
        set { lock.withLock { allowed = newValue } }
    }

    /// Messages the inbox dropped: of a kind other than PARTIAL and JOIN, before a JOIN, a JOIN
    /// that failed to decode, or pushed out of a full hold.
    public var refused: Int { lock.withLock { refusedCount } }

    /// Messages held now for tokens not allowed yet.
    public var heldCount: Int { lock.withLock { held.count } }

    /// The token the inbox connection `peer` joined with; nil when it has not.
    public func token(of peer: PeerID) -> UInt64? {
        lock.withLock { joined[peer] }
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        let deadline = ReceiveDeadline(timeoutMilliseconds: timeoutMilliseconds)
        while true {
            if let envelope = releaseHeld() { return envelope }
            let ready = try ZeroMQTransport.waitAny(
                [coordinator, inbox], timeoutMilliseconds: deadline.remainingMilliseconds)
            if ready.contains(0), let envelope = try coordinator.receive(timeoutMilliseconds: 0) {
                return envelope
            }
            if ready.contains(1), let envelope = try inbox.receive(timeoutMilliseconds: 0), admit(envelope) {
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
        inbox.close()
        coordinator.close()
    }

    /// Whether an inbox message goes on to the reducer: a PARTIAL from a connection joined with
    /// an allowed token. A JOIN is taken here, and remembered whatever its token (the coordinator
    /// may list it only in a later step): what its connection sends is judged against
    /// `allowedTokens` message by message. Every other kind is refused by its kind byte alone:
    /// those are the coordinator's to send, and one that fails to decode is refused all the same.
    private func admit(_ envelope: Envelope) -> Bool {
        guard let peer = envelope.peer else { return false }
        let kind = MessageCodec.peekKind(envelope.frames)
        let isJoin = kind == MessageKind.join.rawValue
        let join: Join? = if isJoin, case .success(.join(let join)) = decode(envelope) { join } else { nil }
        return lock.withLock {
            if isJoin {
                guard let join, joined[peer] != nil || joined.count < Self.maxJoined else {
                    refusedCount += 1
                    return false
                }
                joined[peer] = join.token
                return true
            }
            guard kind == MessageKind.partial.rawValue, let token = joined[peer] else {
                refusedCount += 1
                return false
            }
            guard allowed.contains(token) else {
                hold(envelope, token: token)
                return false
            }
            return true
        }
    }

    /// Sends `frames` to the joined inbox connection `peer` (a worker: its range of the step's
    /// W, b, `--broadcast reducers`) if its queue has room; false, nothing sent, when it has none
    /// or the connection is gone.
    public func send(_ frames: [[UInt8]], toWorker peer: PeerID) -> Bool {
        (try? inbox.sendIfRoom(frames, to: peer)) ?? false
    }

    /// The joined inbox connections whose token is in `tokens`.
    public func peers(joinedWith tokens: Set<UInt64>) -> [PeerID] {
        lock.withLock { joined.filter { tokens.contains($0.value) }.map(\.key) }
    }

    /// Holds `envelope` until `token` is allowed; a full hold first gives up the oldest message
    /// of the token holding the most bytes (which may be this one). Called under the lock.
    private func hold(_ envelope: Envelope, token: UInt64) {
        let bytes = envelope.frames.reduce(0) { $0 + $1.count }
        held.append((envelope, token, bytes))
        heldBytes[token, default: 0] += bytes
        var total = heldBytes.values.reduce(0, +)
        while held.count > Self.maxHeld || total > Self.maxHeldBytes {
            guard let heaviest = heldBytes.max(by: { $0.value < $1.value })?.key,
                let index = held.firstIndex(where: { $0.token == heaviest })
            else { break }
            total -= held[index].bytes
            forget(at: index)
            refusedCount += 1
        }
    }

    /// Takes the held message at `index` out of the hold. Called under the lock.
    @discardableResult
    private func forget(at index: Int) -> Envelope {
        let entry = held.remove(at: index)
        let left = heldBytes[entry.token, default: 0] - entry.bytes
        heldBytes[entry.token] = left > 0 ? left : nil
        return entry.envelope
    }

    /// The oldest held message whose token is now allowed, taken out of the hold.
    private func releaseHeld() -> Envelope? {
        lock.withLock {
            guard let index = held.firstIndex(where: { allowed.contains($0.token) }) else { return nil }
            return forget(at: index)
        }
    }
}
