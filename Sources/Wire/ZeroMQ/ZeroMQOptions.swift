/// Socket options for `ZeroMQTransport`, applied before it binds or connects.
public struct ZeroMQOptions: Sendable, Equatable {
    /// Milliseconds `close()` keeps trying to deliver unsent messages; 0 drops them at once,
    /// which is what a process that is giving up on a peer wants.
    public var lingerMilliseconds: Int32 = 0
    /// Messages queued for sending per peer before sends block (or time out); ZeroMQ's default.
    public var sendHighWaterMark: Int32 = 1000
    /// Messages queued on receipt per peer before ZeroMQ stops reading from it.
    public var receiveHighWaterMark: Int32 = 1000
    /// Bytes: the largest single frame accepted from a peer (ZMQ_MAXMSGSIZE applies per frame);
    /// a peer that sends more is disconnected. -1 = unlimited. The default is the largest
    /// frame the protocol produces.
    public var maxMessageBytes: Int64 = ZeroMQOptions.frameLimit(payload: WireProtocol.maxFramePayload)
    /// Milliseconds between ZMTP PING frames on each connection; 0 = off (ZMQ_HEARTBEAT_IVL).
    /// This keeps TCP connections honest; Descent's own `Heartbeat` messages detect lost workers.
    public var heartbeatIntervalMilliseconds: Int32 = 0
    /// Milliseconds without any traffic after a PING before the connection is dropped;
    /// 0 = libzmq's default, the interval (ZMQ_HEARTBEAT_TIMEOUT).
    public var heartbeatTimeoutMilliseconds: Int32 = 0
    /// Milliseconds the remote side may wait for traffic before dropping us; 0 = libzmq's
    /// default, no limit (ZMQ_HEARTBEAT_TTL).
    public var heartbeatTTLMilliseconds: Int32 = 0
    /// Queue messages only to completed connections (ZMQ_IMMEDIATE), so a DEALER whose
    /// coordinator is not up yet blocks instead of queueing into the void.
    public var immediate: Bool = false
    /// Milliseconds a send may block on a full queue before throwing `WireError.timedOut`;
    /// -1 = block until it fits (ZMQ_SNDTIMEO).
    public var sendTimeoutMilliseconds: Int32 = -1

    /// Bytes of kernel socket buffer each way (SO_SNDBUF, SO_RCVBUF), so a whole ~1 MB PARAMS
    /// or PARTIAL can be in flight without the two I/O threads waking each other every 200 KB;
    /// Linux caps it at net.core.wmem_max and rmem_max. -1 = the system's default.
    public var kernelBufferBytes: Int32 = 4 << 20

    /// Frames of one message kept in memory; a message with more fails to decode. With
    /// `maxMessageBytes` this bounds the memory one message can take.
    public var maxFramesPerMessage = Int(UInt16.max)

    /// The identity a DEALER presents to the ROUTER it connects to (ZMQ_ROUTING_ID), 1 to 255
    /// bytes, the first not 0; nil = one the ROUTER makes up per connection. A fixed one keeps a
    /// peer the same `PeerID` when ZeroMQ reconnects it.
    public var routingID: [UInt8]?

    // MARK: Security
    /// CURVE encryption and authentication; nil = plaintext (NULL mechanism).
    public var curve: CurveSecurity?

    public init() {}

    /// ZMQ_MAXMSGSIZE for frames carrying up to `payload` bytes: the header, plus room for
    /// CURVE's per-message framing (nonce, MAC and command name, 33 bytes in libzmq 4.3), which
    /// counts against the limit on an encrypted connection.
    public static func frameLimit(payload: Int) -> Int64 {
        Int64(WireProtocol.headerSize + payload + 256)
    }
}

/// CURVE keys for one socket, Z85-encoded (40 characters each).
public enum CurveSecurity: Sendable, Equatable {
    /// The coordinator: its secret key; clients are vetted by a `ZeroMQAuthenticator`.
    case server(secretKey: String)
    /// A worker: its own key pair and the coordinator's public key.
    case client(secretKey: String, publicKey: String, serverPublicKey: String)
}
