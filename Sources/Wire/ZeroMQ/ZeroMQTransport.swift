import CZeroMQ

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A transport over a ZeroMQ socket: a ROUTER for the coordinator (`bind`), a DEALER for a
/// worker (`connect`). With `ZeroMQAuthenticator`, the only code that touches libzmq.
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
public final class ZeroMQTransport: CoordinatorTransport, WorkerTransport, @unchecked Sendable {
    let lock = Lock()
    private var socket: UnsafeMutableRawPointer?
    /// Reused for every frame sent and received; libzmq keeps small frames inside the
    /// zmq_msg_t itself, so it must live at a stable address, not in a Swift local.
    private let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
    private let isRouter: Bool
    /// A PAIR socket receiving the DEALER's handshake events, when CURVE is on.
    var monitor: UnsafeMutableRawPointer?
    var lastHandshakeFailure: String?
    /// What libzmq's "Peer-Address" property tells of a message's sender on this endpoint: the
    /// network address on TCP, the process credentials (":uid:gid:pid" on Linux) on ipc.
    private var peerProperty = PeerProperty.none
    /// That property for the message being received.
    private var lastPeerProperty: String?

    /// At most this many frames of one message are kept (`ZeroMQOptions.maxFramesPerMessage`,
    /// plus one so an overlong message is seen as such); the rest are read and discarded, and the
    /// message then fails to decode. Bounds what one hostile message can make this process hold.
    private let maxFramesKept: Int

    private enum PeerProperty {
        case none, address, process
    }

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
        let transport = try ZeroMQTransport(type: ZMQ_ROUTER, options: options, endpoint: endpoint)
        try transport.withSocket { socket throws(WireError) in
            try check(zmq_bind(socket, endpoint), "zmq_bind \(endpoint)")
        }
        return transport
    }

    /// A DEALER connected to `endpoint`, e.g. `tcp://coordinator:5555`. ZeroMQ connects (and
    /// reconnects) in the background; this returns at once.
    public static func connect(
        _ endpoint: String,
        options: ZeroMQOptions = ZeroMQOptions()
    ) throws(WireError) -> ZeroMQTransport {
        let transport = try ZeroMQTransport(type: ZMQ_DEALER, options: options, endpoint: endpoint)
        try transport.withSocket { socket throws(WireError) in
            if options.curve != nil { try transport.startMonitor(socket) }
            try check(zmq_connect(socket, endpoint), "zmq_connect \(endpoint)")
        }
        return transport
    }

    private init(type: Int32, options: ZeroMQOptions, endpoint: String) throws(WireError) {
        isRouter = type == ZMQ_ROUTER
        maxFramesKept = options.maxFramesPerMessage + 1
        if endpoint.hasPrefix("tcp://") { peerProperty = .address }
        if endpoint.hasPrefix("ipc://") { peerProperty = .process }
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

    /// A ROUTER's send; one multipart ZeroMQ message.
    public func send(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) {
        _ = try send(frames, to: peer, waiting: true)
    }

    public func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) -> Bool {
        try send(frames, to: peer, waiting: false)
    }

    /// A DEALER's send; one multipart ZeroMQ message.
    public func send(_ frames: [[UInt8]]) throws(WireError) {
        _ = try send(frames, to: nil, waiting: true)
    }

    func sendIfRoom(_ frames: [[UInt8]], toPeer peer: PeerID?) throws(WireError) -> Bool {
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
            let parts = (peer.map { [$0.bytes] } ?? []) + frames
            for (index, part) in parts.enumerated() {
                let more = index < parts.count - 1
                let dontWait = index == 0 && !waiting
                guard try sendFrame(part, more: more, on: socket, to: peer, dontWait: dontWait) else { return false }
            }
            return true
        }
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        try withSocket { socket throws(WireError) -> Envelope? in
            let deadline = ReceiveDeadline(timeoutMilliseconds: timeoutMilliseconds)
            while true {
                guard try Self.waitReadable(socket, deadline: deadline) else { return nil }
                if let parts = try receiveParts(on: socket) {
                    let address = peerProperty == .address ? lastPeerProperty : nil
                    let process = peerProperty == .process ? lastPeerProperty.flatMap(Self.processID) : nil
                    guard isRouter else {
                        return Envelope(peer: nil, frames: parts, address: address, senderProcessID: process)
                    }
                    return Envelope(
                        peer: PeerID(bytes: parts[0]), frames: Array(parts.dropFirst()), address: address,
                        senderProcessID: process)
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
    private func sendFrame(
        _ bytes: [UInt8], more: Bool, on socket: UnsafeMutableRawPointer, to peer: PeerID?, dontWait: Bool
    ) throws(WireError) -> Bool {
        try prepare(bytes)
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

    /// Makes `message` hold `bytes`: in place for a large frame, copied for a small one.
    private func prepare(_ bytes: [UInt8]) throws(WireError) {
        guard bytes.count >= Self.zeroCopyBytes else {
            try Self.check(zmq_msg_init_size(message, bytes.count), "zmq_msg_init_size")
            bytes.withUnsafeBytes { source in
                if let base = source.baseAddress, let destination = zmq_msg_data(message) {
                    destination.copyMemory(from: base, byteCount: source.count)
                }
            }
            return
        }
        // The array's storage is a heap object whose address holds while the owner keeps the
        // (immutable) array; libzmq calls the release function once it has sent the bytes, or
        // when the message is closed unsent.
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
            // libzmq knows the sending connection's property on the frames it read from the
            // wire — not on the identity frame a ROUTER adds itself.
            if parts.isEmpty { lastPeerProperty = nil }
            if peerProperty != .none, lastPeerProperty == nil {
                lastPeerProperty = zmq_msg_gets(message, "Peer-Address").flatMap { String(validatingCString: $0) }
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

    /// The pid in ipc:// peer credentials (":uid:gid:pid").
    private static func processID(_ credentials: String) -> Int32? {
        credentials.split(separator: ":").last.flatMap { Int32($0) }
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

    /// Waits for a readable socket; false when the deadline passed first.
    private static func waitReadable(
        _ socket: UnsafeMutableRawPointer, deadline: ReceiveDeadline
    ) throws(WireError) -> Bool {
        var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        while true {
            let ready = zmq_poll(&item, 1, deadline.remainingMilliseconds)
            if ready >= 0 { return ready > 0 }
            let code = zmq_errno()
            guard code == EINTR else {
                if code == ETERM { throw .closed }
                throw error("zmq_poll", code: code)
            }
        }
    }

    static func check(_ result: Int32, _ operation: String) throws(WireError) {
        guard result == 0 else { throw error(operation) }
    }

    static func error(_ operation: String, code: Int32 = zmq_errno()) -> WireError {
        let message = zmq_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return .zmq(operation: operation, code: code, message: message)
    }
}
