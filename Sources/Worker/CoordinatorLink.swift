import Core
import Logging
import Wire

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The worker's side of the conversation, hiding envelopes, registration and heartbeats:
/// `next()` hands the loop only the messages it acts on.
///
/// A background thread keeps heartbeats going while the loop computes, so a long step is not
/// mistaken for a dead worker; a stopped or killed process stops beating. `@unchecked Sendable`:
/// the transport locks every socket use, and `lastSent` is guarded by `beatLock`.
final class CoordinatorLink: @unchecked Sendable {
    let endpoint: String
    private(set) var welcome: Welcome
    private let transport: any WorkerTransport
    private let hello: [[UInt8]]
    private let reconnectTimeout: Duration
    /// Silence after which the worker assumes a restarted coordinator and says hello again.
    private let reregisterAfter: Duration = .seconds(5)
    private var lastHello = ContinuousClock.now
    /// The coordinator that started this worker (`--parent-pid`), if one did.
    let parentPID: Int32?
    private let log = Logger(label: "descent.worker.link")
    private var lastHeard = ContinuousClock.now
    private var lastSentUnlocked = ContinuousClock.now
    private let beatLock = Lock()
    private var beating = true
    /// Whether the worker's own thread is inside `next()`, beating by itself.
    private var waiting = false
    /// Frames that failed to decode; dropped, never acted on.
    private(set) var rejectedFrames = 0

    /// Registers with the coordinator at `endpoint` through `transport`, connected to it (the
    /// socket, or layers over it: shared memory, `FaultInjectingTransport`).
    /// - Parameter encrypted: whether the connection uses CURVE, for the message when nobody answers.
    init(
        transport: any WorkerTransport, endpoint: String, name: String, encrypted: Bool,
        registerTimeout: Duration, reconnectTimeout: Duration, parentPID: Int32?, relayEndpoint: String = "",
        reducerEndpoint: String = "", reducerPublicKey: String = ""
    ) throws {
        self.transport = transport
        self.endpoint = endpoint
        self.reconnectTimeout = reconnectTimeout
        self.parentPID = parentPID
        hello = MessageCodec.encode(
            .hello(
                Hello(
                    name: name, profile: .current(threads: BLAS.threads), relayEndpoint: relayEndpoint,
                    reducerEndpoint: reducerEndpoint, reducerPublicKey: reducerPublicKey)))
        try transport.send(hello)

        let deadline = ContinuousClock.now + registerTimeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                let failure = transport.handshakeFailure()
                transport.close()
                if let failure { throw WorkerError.handshakeFailed(endpoint: endpoint, detail: failure) }
                throw WorkerError.noCoordinator(
                    endpoint: endpoint, seconds: registerTimeout.inSeconds, curve: encrypted)
            }
            if let failure = transport.handshakeFailure(), failure.contains("refused") {
                transport.close()
                throw WorkerError.handshakeFailed(endpoint: endpoint, detail: failure)
            }
            let wait = min(left.inMilliseconds, 250)
            guard let (_, result) = try transport.receiveMessage(timeoutMilliseconds: wait) else {
                if let parentPID, getppid() != parentPID { throw WorkerError.parentExited }
                continue
            }
            switch result {
            case .success(.welcome(let w)):
                welcome = w
                lastHeard = .now
                startHeartbeats()
                return
            case .success(.refuse(let r)):
                transport.close()
                throw r.kernel.isEmpty ? WorkerError.refused(reason: r.reason) : WorkerError.switchKernel(r.kernel)
            case .failure(.versionMismatch(let expected, let got)):
                transport.close()
                throw WorkerError.refused(
                    reason: "protocol version mismatch: this worker speaks \(expected), the coordinator \(got)")
            case .success, .failure:
                continue
            }
        }
    }

    /// The next message the worker must act on; heartbeats are answered and absorbed here.
    ///
    /// A coordinator silent for a few seconds may have restarted: the worker says hello again
    /// every second, and a WELCOME in reply comes back from here as `.welcome` (a new session:
    /// the shards held so far are void). Silence past `reconnectTimeout` ends the worker.
    func next() throws -> Message {
        try nextWithPeer().message
    }

    /// As `next()`, with the peer a message came from where the transport has more than the
    /// coordinator (a reducer's inbox of workers); nil for the coordinator.
    func nextWithPeer() throws -> (peer: PeerID?, message: Message) {
        let beat = Duration.milliseconds(Int(max(welcome.heartbeatMilliseconds, 10)))
        // While this thread waits on the socket it beats itself; the background thread would
        // only contend for the socket's lock (and lose: the wait takes it again at once).
        beatLock.withLock { waiting = true }
        defer { beatLock.withLock { waiting = false } }
        while true {
            if beatLock.withLock({ ContinuousClock.now - lastSentUnlocked >= beat }) {
                try send(.heartbeat(Heartbeat(step: 0)))
            }
            guard let envelope = try transport.receive(timeoutMilliseconds: beat.inMilliseconds / 2) else {
                if let parentPID, getppid() != parentPID { throw WorkerError.parentExited }
                let silence = ContinuousClock.now - lastHeard
                if silence > reconnectTimeout {
                    throw WorkerError.coordinatorLost(endpoint: endpoint, seconds: reconnectTimeout.inSeconds)
                }
                if silence > reregisterAfter, ContinuousClock.now - lastHello > .seconds(1) {
                    try transport.send(hello)
                    lastHello = .now
                }
                continue
            }
            switch transport.decode(envelope) {
            case .success(let message):
                guard envelope.peer == nil else { return (envelope.peer, message) }
                lastHeard = .now
                if case .heartbeat = message { continue }
                if case .welcome(let w) = message { welcome = w }
                return (nil, message)
            case .failure(let error):
                rejectedFrames += 1
                log.warning("dropped a message that failed to decode: \(error)")
            }
        }
    }

    /// The parameters of `step` where the coordinator shares them instead of sending PARAMS; nil
    /// when it shares none with this worker.
    func sharedParameters(step: UInt64) -> Result<Params, WireError>? {
        transport.sharedParameters(step: step)
    }

    /// Starts a session with the coordinator that welcomed this worker: up to a whole gradient
    /// may be on its way to the coordinator, and the largest segment again for the gap a frame may
    /// leave at a ring's end.
    func beginSession(layout: ParameterLayout) {
        let slack = 64 << 10
        let largestSegment = layout.segments.map(\.range.count).max() ?? layout.count
        transport.beginSession(bytesInFlight: (layout.count + largestSegment) * MemoryLayout<Float>.size + slack)
    }

    func send(_ message: Message) throws {
        try send(frames: MessageCodec.encode(message))
    }

    /// Sends a message already encoded.
    func send(frames: [[UInt8]]) throws {
        try transport.send(frames)
        beatLock.withLock { lastSentUnlocked = .now }
    }

    /// Sends `partial` with the float32 `gradients`, encoded where the transport sends it from.
    func send(_ partial: Partial, gradients: UnsafeBufferPointer<Float>) throws {
        guard let frameBytes = MessageCodec.partialFrameBytes(count: gradients.count) else {
            return try send(frames: MessageCodec.encodePartial(partial, gradients: gradients))
        }
        try transport.send(frameBytes: frameBytes) {
            MessageCodec.encodePartial(partial, gradients: gradients, into: $0, for: $1)
        }
        beatLock.withLock { lastSentUnlocked = .now }
    }

    /// How the large frames sent travelled, for the log: through shared memory, or through the
    /// socket for want of room in the ring; nil when none was to go through shared memory.
    var sharedMemorySummary: String? {
        let counters = transport.sharedMemoryCounters
        guard counters.framesSent + counters.framesSentWithoutRoom > 0 else { return nil }
        return "\(counters.framesSent) frames through shared memory, "
            + "\(counters.framesSentWithoutRoom) through the socket for want of room"
    }

    func close() {
        beatLock.withLock { beating = false }
        transport.close()
    }

    private func startHeartbeats() {
        let beat = Duration.milliseconds(Int(max(welcome.heartbeatMilliseconds, 10)))
        detachThread { [self] in
            while true {
                usleep(useconds_t(beat.inMilliseconds * 500))
                let (running, due) = beatLock.withLock {
                    (beating, !waiting && ContinuousClock.now - lastSentUnlocked >= beat)
                }
                guard running else { return }
                if due { try? send(.heartbeat(Heartbeat(step: 0))) }
            }
        }
    }
}
