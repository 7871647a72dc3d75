import CSharedMemory
import CZeroMQ
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A `Transport` over a ZeroMQ socket: a ROUTER for the coordinator (`bind`), a DEALER for a
/// worker (`connect`). The only file that touches libzmq.
///
/// On the ROUTER, each received message starts with the sending DEALER's identity, which
/// becomes `Envelope.peer`; replies are addressed by it. ZMQ_ROUTER_MANDATORY is set, so
/// sending to a vanished peer throws `WireError.peerUnreachable` instead of being dropped
/// silently. A DEALER sends and receives bare frames (no empty delimiter).
///
/// `@unchecked Sendable`: a ZeroMQ socket must never be used by two threads at once, so every
/// use of it happens under `lock`. A `receive` that is waiting therefore holds up a `send` on
/// another thread until it returns; a role's loop should wait with a timeout and send between
/// waits.
public final class ZeroMQTransport: Transport, @unchecked Sendable {
    let lock = Lock()
    var socket: UnsafeMutableRawPointer?
    /// Reused for every frame sent and received; libzmq keeps small frames inside the
    /// zmq_msg_t itself, so it must live at a stable address, not in a Swift local.
    private let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
    let isRouter: Bool
    /// A PAIR socket receiving the DEALER's handshake events, when CURVE is on.
    private var monitor: UnsafeMutableRawPointer?
    private var lastHandshakeFailure: String?
    /// Where the message being received came from (see `Envelope.address`).
    private var lastPeerAddress: String?
    /// Whether peers have network addresses: TCP yes; for ipc libzmq reports process credentials.
    private var knowsPeerAddresses = false

    // MARK: Shared memory (ipc:// only; see `SharedRegion` and ZeroMQTransport+SharedMemory.swift)
    /// A ROUTER that maps the regions its peers offer.
    var acceptsRegions = false
    /// A DEALER that may offer one.
    var mayOfferRegion = false
    /// ROUTER: each peer's accepted region.
    var regions: [PeerID: SharedRegion] = [:]
    /// DEALER: the region offered, and whether the ROUTER accepted it.
    var offeredRegion: SharedRegion?
    var regionAccepted = false
    /// The process credentials libzmq reports for the connection the last offer came on
    /// (":uid:gid:pid" on Linux).
    var lastPeerCredentials: String?
    /// ROUTER: the parameters it shares (`shareParameters`), and the peers that mapped them.
    /// DEALER: the parameters its ROUTER shares, once mapped.
    var board: ParameterBoard?
    var boardPeers: Set<PeerID> = []
    /// Frames that went through shared memory, each way; bytes of those received; frames that
    /// would have but found no room in the ring, and took the socket.
    var framesSentShared = 0
    var framesReceivedShared = 0
    var bytesReceivedShared = 0
    var framesWithoutRoom = 0

    /// At most this many frames of one message are kept (`ZeroMQOptions.maxFramesPerMessage`,
    /// plus one so an overlong message is seen as such); the rest are read and discarded, and the
    /// message then fails to decode. Bounds what one hostile message can make this process hold.
    private let maxFramesKept: Int
    /// The largest frame taken from a peer (`ZeroMQOptions.maxMessageBytes`): libzmq enforces it on
    /// the socket, this transport on frames that come through shared memory.
    let maxFrameBytes: UInt64

    /// The process-wide context; a ZeroMQ context is thread-safe, hence `@unchecked Sendable`.
    struct Context: @unchecked Sendable {
        let handle: UnsafeMutableRawPointer?
    }

    static let context = Context(handle: zmq_ctx_new())

    /// A ROUTER bound to `endpoint`, e.g. `tcp://*:5555`, or `tcp://127.0.0.1:*` for any free
    /// port (see `boundEndpoint`).
    public static func bind(
        _ endpoint: String,
        options: ZeroMQOptions = ZeroMQOptions()
    ) throws(WireError) -> ZeroMQTransport {
        let transport = try ZeroMQTransport(type: ZMQ_ROUTER, options: options)
        try transport.withSocket { socket throws(WireError) in
            try check(zmq_bind(socket, endpoint), "zmq_bind \(endpoint)")
        }
        transport.knowsPeerAddresses = endpoint.hasPrefix("tcp://")
        transport.acceptsRegions = options.sharedMemory && options.curve == nil && endpoint.hasPrefix("ipc://")
        return transport
    }

    /// A DEALER connected to `endpoint`, e.g. `tcp://coordinator:5555`. ZeroMQ connects (and
    /// reconnects) in the background; this returns at once.
    public static func connect(
        _ endpoint: String,
        options: ZeroMQOptions = ZeroMQOptions()
    ) throws(WireError) -> ZeroMQTransport {
        let transport = try ZeroMQTransport(type: ZMQ_DEALER, options: options)
        try transport.withSocket { socket throws(WireError) in
            if options.curve != nil { try transport.startMonitor(socket) }
            try check(zmq_connect(socket, endpoint), "zmq_connect \(endpoint)")
        }
        transport.mayOfferRegion = options.sharedMemory && options.curve == nil && endpoint.hasPrefix("ipc://")
        return transport
    }

    // MARK: Handshake failures

    /// A failed CURVE handshake is silent in libzmq; a socket monitor hears of it.
    private func startMonitor(_ socket: UnsafeMutableRawPointer) throws(WireError) {
        let address = "inproc://descent-monitor-\(UInt(bitPattern: socket))"
        let events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
        try Self.check(zmq_socket_monitor(socket, address, events), "zmq_socket_monitor")
        guard let pair = zmq_socket(Self.context.handle, ZMQ_PAIR) else { throw Self.error("zmq_socket") }
        try Self.setOption(pair, ZMQ_LINGER, 0, "ZMQ_LINGER")
        try Self.check(zmq_connect(pair, address), "zmq_connect \(address)")
        monitor = pair
    }

    /// The last handshake failure the monitor reported, if any (e.g. the coordinator refused
    /// this worker's key), as a sentence.
    public func handshakeFailure() -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard let monitor else { return nil }
        var failure: String?
        while true {
            var event = zmq_msg_t()
            zmq_msg_init(&event)
            guard zmq_msg_recv(&event, monitor, ZMQ_DONTWAIT) >= 0 else {
                zmq_msg_close(&event)
                return failure ?? lastHandshakeFailure
            }
            var id: UInt16 = 0
            var value: UInt32 = 0
            if zmq_msg_size(&event) >= 6, let data = zmq_msg_data(&event) {
                id = data.loadUnaligned(as: UInt16.self)
                value = data.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            }
            let more = zmq_msg_more(&event) != 0
            zmq_msg_close(&event)
            if more {
                var address = zmq_msg_t()
                zmq_msg_init(&address)
                _ = zmq_msg_recv(&address, monitor, 0)
                zmq_msg_close(&address)
            }
            switch Int32(id) {
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                failure = "the coordinator refused this worker's CURVE key (status \(value))"
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                failure = "the CURVE handshake failed (protocol error \(value)): is --server-public-key the coordinator's?"
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                failure = "the CURVE handshake failed (error \(value)): check --server-public-key and this worker's key"
            default:
                break
            }
            lastHandshakeFailure = failure ?? lastHandshakeFailure
        }
    }

    private init(type: Int32, options: ZeroMQOptions) throws(WireError) {
        isRouter = type == ZMQ_ROUTER
        maxFramesKept = options.maxFramesPerMessage + 1
        maxFrameBytes = options.maxMessageBytes < 0 ? .max : UInt64(options.maxMessageBytes)
        message.initialize(to: zmq_msg_t())
        guard let context = Self.context.handle else {
            throw Self.error("zmq_ctx_new")
        }
        guard let socket = zmq_socket(context, type) else {
            throw Self.error("zmq_socket")
        }
        self.socket = socket
        do {
            try Self.apply(options, to: socket)
            if isRouter {
                try Self.setOption(socket, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY")
            }
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        message.deallocate()
    }

    /// The endpoint the socket last bound or connected to (ZMQ_LAST_ENDPOINT), with a
    /// wildcard port resolved, e.g. `tcp://127.0.0.1:41234`; nil once closed.
    public var boundEndpoint: String? {
        try? withSocket { socket throws(WireError) -> String in
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            try Self.check(zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size), "ZMQ_LAST_ENDPOINT")
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public func send(_ frames: [[UInt8]], to peer: PeerID?) throws(WireError) {
        _ = try send(frames, to: peer, waiting: true)
    }

    /// Sends `frames` only if the peer's queue has room now (`sendHighWaterMark` messages):
    /// false, and nothing sent, when it is full. What lets a sender keep a bounded window of
    /// messages in flight without blocking.
    public func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID?) throws(WireError) -> Bool {
        try send(frames, to: peer, waiting: false)
    }

    private func send(_ frames: [[UInt8]], to peer: PeerID?, waiting: Bool) throws(WireError) -> Bool {
        guard !frames.isEmpty else { throw .emptyMessage }
        if isRouter && peer == nil {
            throw .misaddressed("a ROUTER must name the peer to send to")
        }
        if !isRouter && peer != nil {
            throw .misaddressed("a DEALER has one peer and takes none")
        }
        return try withSocket { socket throws(WireError) -> Bool in
            // Room is decided on a message's first part: once it is taken, the rest follow.
            var parts = (peer.map { [$0.bytes] } ?? []) + frames
            placeInSharedMemory(&parts, to: peer)
            do throws(WireError) {
                for (index, part) in parts.enumerated() {
                    let more = index < parts.count - 1
                    if index == 0 && !waiting {
                        guard try sendFrame(part, more: more, on: socket, to: peer, dontWait: true) else { return false }
                    } else {
                        _ = try sendFrame(part, more: more, on: socket, to: peer)
                    }
                }
            } catch {
                if case .peerUnreachable(let gone) = error { regions[gone] = nil }
                throw error
            }
            return true
        }
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        try withSocket { socket throws(WireError) -> Envelope? in
            let deadline = timeoutMilliseconds > 0
                ? ContinuousClock.now + .milliseconds(timeoutMilliseconds) : nil
            while true {
                let remaining = deadline.map { Self.millisecondsLeft(until: $0) } ?? timeoutMilliseconds
                guard try Self.waitReadable(socket, timeoutMilliseconds: remaining) else { return nil }
                if var parts = try receiveParts(on: socket) {
                    let peer = isRouter ? PeerID(bytes: parts[0]) : nil
                    // The shared-memory handshake stays in the transport.
                    if takeHandshake(parts, from: peer, on: socket) { continue }
                    let checksums = followReferences(&parts, from: peer)
                    if let peer {
                        return Envelope(
                            peer: peer, frames: Array(parts.dropFirst()), address: lastPeerAddress, payloadChecksums: Array(checksums.dropFirst()))
                    }
                    return Envelope(peer: nil, frames: parts, address: nil, payloadChecksums: checksums)
                }
                if timeoutMilliseconds == 0 { return nil }
            }
        }
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if let socket {
            zmq_close(socket)
            self.socket = nil
        }
        if let monitor {
            zmq_close(monitor)
            self.monitor = nil
        }
        regions = [:]
        offeredRegion = nil
        regionAccepted = false
        board = nil
        boardPeers = []
    }

    // MARK: Frames

    /// Bytes from which a frame is handed to libzmq in place rather than copied into a message
    /// of its own: a PARAMS or PARTIAL frame, sent without a copy (a HEARTBEAT is cheaper copied).
    static let zeroCopyBytes = 64 << 10

    /// Keeps a frame's bytes alive and unchanged while libzmq sends them from its I/O thread.
    private final class FrameOwner {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    /// Sends one part; with `dontWait`, returns false (the part closed, unsent) when the peer's
    /// queue is full.
    @discardableResult
    func sendFrame(
        _ bytes: [UInt8], more: Bool, on socket: UnsafeMutableRawPointer, to peer: PeerID?, dontWait: Bool = false
    ) throws(WireError) -> Bool {
        if bytes.count >= Self.zeroCopyBytes {
            // The array's storage is a heap object whose address holds while the owner keeps the
            // (immutable) array; libzmq calls the release function once it has sent the bytes,
            // or when the message is closed unsent.
            let owner = FrameOwner(bytes)
            let base = owner.bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
            let hint = Unmanaged.passRetained(owner).toOpaque()
            let released: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
                if let hint { Unmanaged<AnyObject>.fromOpaque(hint).release() }
            }
            guard zmq_msg_init_data(message, base, bytes.count, released, hint) == 0 else {
                Unmanaged<FrameOwner>.fromOpaque(hint).release()
                throw Self.error("zmq_msg_init_data")
            }
        } else {
            try Self.check(zmq_msg_init_size(message, bytes.count), "zmq_msg_init_size")
            bytes.withUnsafeBytes { source in
                if let base = source.baseAddress, let destination = zmq_msg_data(message) {
                    destination.copyMemory(from: base, byteCount: source.count)
                }
            }
        }
        while zmq_msg_send(message, socket, (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)) < 0 {
            let code = zmq_errno()
            if code == EINTR { continue }
            zmq_msg_close(message)
            switch code {
            case EHOSTUNREACH: throw .peerUnreachable(peer ?? PeerID(bytes: []))
            case EAGAIN where dontWait: return false
            case EAGAIN: throw .timedOut
            case ETERM: throw .closed
            default: throw Self.error("zmq_msg_send", code: code)
            }
        }
        return true
    }

    /// Every part of the next message, or nil when none was waiting after all.
    private func receiveParts(on socket: UnsafeMutableRawPointer) throws(WireError) -> [[UInt8]]? {
        var parts: [[UInt8]] = []
        while true {
            try Self.check(zmq_msg_init(message), "zmq_msg_init")
            // A message's parts arrive together, so only the first read can find nothing.
            while zmq_msg_recv(message, socket, ZMQ_DONTWAIT) < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }
                zmq_msg_close(message)
                if code == EAGAIN && parts.isEmpty { return nil }
                if code == ETERM { throw .closed }
                throw Self.error("zmq_msg_recv", code: code)
            }
            // libzmq knows the sending connection's address for TCP (not for ipc) on the frames it
            // read from the wire — not on the identity frame a ROUTER adds itself.
            if parts.isEmpty { lastPeerAddress = nil }
            if knowsPeerAddresses, lastPeerAddress == nil {
                lastPeerAddress = zmq_msg_gets(message, "Peer-Address").flatMap { String(validatingCString: $0) }
            }
            // On ipc, the same property holds the sending process's credentials; an offer of
            // shared memory is checked against them.
            if acceptsRegions || mayOfferRegion, parts.count == (isRouter ? 1 : 0), zmq_msg_size(message) == RegionHandshake.offerBytes {
                lastPeerCredentials = zmq_msg_gets(message, "Peer-Address").flatMap { String(validatingCString: $0) }
            }
            if parts.count < maxFramesKept + (isRouter ? 1 : 0) {
                let size = zmq_msg_size(message)
                if size > 0, let data = zmq_msg_data(message) {
                    parts.append([UInt8](UnsafeRawBufferPointer(start: data, count: size)))
                } else {
                    parts.append([])
                }
            }
            let more = zmq_msg_more(message) != 0
            zmq_msg_close(message)
            if !more { return parts }
        }
    }

    // MARK: Helpers

    func withSocket<T>(
        _ body: (UnsafeMutableRawPointer) throws(WireError) -> T
    ) throws(WireError) -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let socket else { throw .closed }
        return try body(socket)
    }

    /// Waits for a readable socket; false when the timeout passed first.
    private static func waitReadable(
        _ socket: UnsafeMutableRawPointer, timeoutMilliseconds: Int
    ) throws(WireError) -> Bool {
        var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let deadline = timeoutMilliseconds > 0
            ? ContinuousClock.now + .milliseconds(timeoutMilliseconds) : nil
        var timeout = timeoutMilliseconds
        while true {
            let ready = zmq_poll(&item, 1, timeout)
            if ready >= 0 { return ready > 0 }
            let code = zmq_errno()
            guard code == EINTR else {
                if code == ETERM { throw .closed }
                throw error("zmq_poll", code: code)
            }
            if let deadline { timeout = millisecondsLeft(until: deadline) }
        }
    }

    /// Whole milliseconds from now until `deadline`, rounded up so a wait never ends early;
    /// 0 once it has passed.
    private static func millisecondsLeft(until deadline: ContinuousClock.Instant) -> Int {
        let left = ContinuousClock.now.duration(to: deadline).components
        guard left.seconds >= 0, left.attoseconds >= 0 else { return 0 }
        let millisecond: Int64 = 1_000_000_000_000_000
        return Int(left.seconds * 1000 + (left.attoseconds + millisecond - 1) / millisecond)
    }

    private static func apply(_ options: ZeroMQOptions, to socket: UnsafeMutableRawPointer) throws(WireError) {
        try setOption(socket, ZMQ_LINGER, options.lingerMilliseconds, "ZMQ_LINGER")
        try setOption(socket, ZMQ_SNDHWM, options.sendHighWaterMark, "ZMQ_SNDHWM")
        try setOption(socket, ZMQ_RCVHWM, options.receiveHighWaterMark, "ZMQ_RCVHWM")
        try setInt64Option(socket, ZMQ_MAXMSGSIZE, options.maxMessageBytes, "ZMQ_MAXMSGSIZE")
        try setOption(socket, ZMQ_SNDTIMEO, options.sendTimeoutMilliseconds, "ZMQ_SNDTIMEO")
        try setOption(socket, ZMQ_IMMEDIATE, options.immediate ? 1 : 0, "ZMQ_IMMEDIATE")
        try setOption(socket, ZMQ_SNDBUF, options.kernelBufferBytes, "ZMQ_SNDBUF")
        try setOption(socket, ZMQ_RCVBUF, options.kernelBufferBytes, "ZMQ_RCVBUF")
        // Zero means "libzmq's default", which is not always what setting 0 would mean.
        if options.heartbeatIntervalMilliseconds > 0 {
            try setOption(socket, ZMQ_HEARTBEAT_IVL, options.heartbeatIntervalMilliseconds, "ZMQ_HEARTBEAT_IVL")
        }
        if options.heartbeatTimeoutMilliseconds > 0 {
            try setOption(socket, ZMQ_HEARTBEAT_TIMEOUT, options.heartbeatTimeoutMilliseconds, "ZMQ_HEARTBEAT_TIMEOUT")
        }
        if options.heartbeatTTLMilliseconds > 0 {
            try setOption(socket, ZMQ_HEARTBEAT_TTL, options.heartbeatTTLMilliseconds, "ZMQ_HEARTBEAT_TTL")
        }
        switch options.curve {
        case nil:
            break
        case .server(let secretKey):
            try setOption(socket, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER")
            try setStringOption(socket, ZMQ_CURVE_SECRETKEY, secretKey, "ZMQ_CURVE_SECRETKEY")
            try setStringOption(socket, ZMQ_ZAP_DOMAIN, ZeroMQAuthenticator.domain, "ZMQ_ZAP_DOMAIN")
        case .client(let secretKey, let publicKey, let serverPublicKey):
            try setStringOption(socket, ZMQ_CURVE_SERVERKEY, serverPublicKey, "ZMQ_CURVE_SERVERKEY")
            try setStringOption(socket, ZMQ_CURVE_PUBLICKEY, publicKey, "ZMQ_CURVE_PUBLICKEY")
            try setStringOption(socket, ZMQ_CURVE_SECRETKEY, secretKey, "ZMQ_CURVE_SECRETKEY")
        }
    }

    /// Sets a string option (Z85 keys are passed as 40 characters without the terminator).
    private static func setStringOption(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: String, _ name: String
    ) throws(WireError) {
        var bytes = Array(value.utf8)
        try check(zmq_setsockopt(socket, option, &bytes, bytes.count), "zmq_setsockopt \(name)")
    }

    /// Sets an `int` option; libzmq refuses a value of any other size.
    private static func setOption(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32, _ name: String
    ) throws(WireError) {
        var value = value
        try check(zmq_setsockopt(socket, option, &value, MemoryLayout<Int32>.size), "zmq_setsockopt \(name)")
    }

    /// Sets an `int64_t` option.
    private static func setInt64Option(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int64, _ name: String
    ) throws(WireError) {
        var value = value
        try check(zmq_setsockopt(socket, option, &value, MemoryLayout<Int64>.size), "zmq_setsockopt \(name)")
    }

    private static func check(_ result: Int32, _ operation: String) throws(WireError) {
        guard result == 0 else { throw error(operation) }
    }

    private static func error(_ operation: String, code: Int32 = zmq_errno()) -> WireError {
        let message = zmq_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return .zmq(operation: operation, code: code, message: message)
    }
}
