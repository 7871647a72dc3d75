/// A worker's connections to the run's reducers (REDUCERS): a DEALER to each reducer's inbox,
/// each opened with a JOIN carrying the worker's token, over which the worker sends the pieces of
/// its partial gradients that fall in that reducer's range.
///
/// Sends never wait long on a reducer that has died or stalled: each connection queues at most
/// `sendHighWaterMark` messages, and a send to a full queue waits up to `sendTimeoutMilliseconds`
/// for room, then throws `WireError.timedOut` with nothing sent. What is not delivered the coordinator asks for again, or the run stops on a lost reducer.
/// Each DEALER presents a fixed random routing id, so a reconnection after a dropped TCP
/// connection is still the connection that joined.
public final class ReducerConnections: @unchecked Sendable {
    private let sockets: [ZeroMQTransport]
    /// The reducers' endpoints, reducer r's at index r − 1, as REDUCERS named them.
    public let endpoints: [String]
    /// This worker's token, sent in the JOIN that opens every connection.
    public let token: UInt64
    /// Messages each connection queues before a send waits: about four steps of pieces of a
    /// 1 MB range, so a dead reducer costs little memory.
    public static let sendHighWaterMark: Int32 = 64

    /// Connects to each of `endpoints` and sends JOIN(`token`) on it. A reducer whose entry in
    /// `publicKeys` is not empty is reached over CURVE with that server key and `clientKeys`, the
    /// worker's own pair (Z85), or with a pair made up here when nil: a reducer takes any client
    /// key, the token is what admits the worker. Sends to a full queue wait up to
    /// `sendTimeoutMilliseconds`.
    public init(
        endpoints: [String], publicKeys: [String], token: UInt64,
        clientKeys: (publicKey: String, secretKey: String)? = nil, sendTimeoutMilliseconds: Int32 = 1000
    ) throws(WireError) {
        guard publicKeys.count == endpoints.count else {
            throw .misaddressed("\(publicKeys.count) public keys for \(endpoints.count) reducers")
        }
        var ownKeys = clientKeys
        if ownKeys == nil, publicKeys.contains(where: { !$0.isEmpty }) { ownKeys = try CurveKeys.generate() }
        var sockets: [ZeroMQTransport] = []
        do throws(WireError) {
            for (endpoint, serverKey) in zip(endpoints, publicKeys) {
                var options = ZeroMQOptions()
                options.sendHighWaterMark = Self.sendHighWaterMark
                options.receiveHighWaterMark = 16
                options.sendTimeoutMilliseconds = sendTimeoutMilliseconds
                options.routingID = Self.randomRoutingID()
                if let ownKeys, !serverKey.isEmpty {
                    options.curve = .client(
                        secretKey: ownKeys.secretKey, publicKey: ownKeys.publicKey, serverPublicKey: serverKey)
                }
                let socket = try ZeroMQTransport.connect(endpoint, options: options)
                sockets.append(socket)
                try socket.send(.join(Join(token: token)))
            }
        } catch {
            for socket in sockets { socket.close() }
            throw error
        }
        self.sockets = sockets
        self.endpoints = endpoints
        self.token = token
    }

    /// Sends one message's frames to reducer `reducer` (1 ≤ reducer ≤ `endpoints.count`), waiting
    /// up to the send timeout for room; `WireError.timedOut`, nothing sent, when none came.
    public func send(_ frames: [[UInt8]], toReducer reducer: Int) throws(WireError) {
        try socket(reducer).send(frames)
    }

    /// Encodes `message` and sends it to reducer `reducer`.
    public func send(_ message: Message, toReducer reducer: Int) throws(WireError) {
        try send(MessageCodec.encode(message), toReducer: reducer)
    }

    /// Why the connection to reducer `reducer` could not be secured (its CURVE handshake failed),
    /// as a sentence; nil when nothing failed or the number names no reducer.
    public func handshakeFailure(ofReducer reducer: Int) -> String? {
        guard sockets.indices.contains(reducer - 1) else { return nil }
        return sockets[reducer - 1].handshakeFailure()
    }

    /// Waits up to `timeoutMilliseconds` for a message from any reducer (its range of a step's
    /// W, b with `--broadcast reducers`): the reducer's number and the message, decoded (a failure
    /// is returned, not thrown, for the caller to count); nil when none came.
    public func receive(timeoutMilliseconds: Int) throws(WireError) -> (
        reducer: Int, message: Result<Message, WireError>
    )? {
        let ready = try ZeroMQTransport.waitAny(sockets, timeoutMilliseconds: timeoutMilliseconds)
        for index in ready.sorted() {
            guard let envelope = try sockets[index].receive(timeoutMilliseconds: 0) else { continue }
            return (index + 1, sockets[index].decode(envelope))
        }
        return nil
    }

    /// Closes every connection; unsent pieces are dropped. Later sends throw `WireError.closed`.
    public func close() {
        for socket in sockets { socket.close() }
    }

    private func socket(_ reducer: Int) throws(WireError) -> ZeroMQTransport {
        guard sockets.indices.contains(reducer - 1) else {
            throw .misaddressed("reducer \(reducer) is not one of 1…\(sockets.count)")
        }
        return sockets[reducer - 1]
    }

    /// 16 random bytes, the first not 0 (ZeroMQ keeps ids starting with 0 for itself).
    private static func randomRoutingID() -> [UInt8] {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[0] = max(bytes[0], 1)
        return bytes
    }
}
