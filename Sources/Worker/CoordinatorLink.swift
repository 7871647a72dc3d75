import Core
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Wire

/// The worker's side of the conversation, hiding envelopes, registration and heartbeats:
/// `next()` hands the loop only the messages it acts on.
///
/// A background thread keeps heartbeats going while the loop computes, so a long step is not
/// mistaken for a dead worker; a stopped or killed process stops beating. `@unchecked Sendable`:
/// the transport locks every socket use, and `lastSent` is guarded by `beatLock`.
final class CoordinatorLink: @unchecked Sendable {
    let endpoint: String
    private(set) var welcome: Welcome
    /// The socket, for what only it knows: the handshake's outcome and the memory shared with the
    /// coordinator.
    private let connection: ZeroMQTransport
    /// What messages go through: the socket, or a layer over it (`FaultInjectingTransport`).
    private let transport: any Transport
    private let hello: [[UInt8]]
    private let reconnectTimeout: Duration
    /// Silence after which the worker assumes a restarted coordinator and says hello again.
    private let reregisterAfter: Duration = .seconds(5)
    private var lastHello = ContinuousClock.now
    private let parentPID: Int32?
    private let log = Logger(label: "descent.worker.link")
    private var lastHeard = ContinuousClock.now
    private var lastSentUnlocked = ContinuousClock.now
    private let beatLock = Lock()
    private var beating = true
    /// Whether the worker's own thread is inside `next()`, beating by itself.
    private var waiting = false
    /// Frames that failed to decode; dropped, never acted on.
    private(set) var rejectedFrames = 0
    /// Whether the last PARAMS was a reference to shared parameters that could not be read: they
    /// already hold a later step's, so the coordinator moved on without this worker.
    private(set) var missedSharedParameters = false

    /// - Parameter layer: puts a layer over the socket for messages to go through.
    init(
        endpoint: String, name: String, curve: CurveSecurity?, registerTimeout: Duration, reconnectTimeout: Duration,
        parentPID: Int32?, layer: (any Transport) -> any Transport = { $0 }
    ) throws {
        self.endpoint = endpoint
        self.reconnectTimeout = reconnectTimeout
        self.parentPID = parentPID
        var options = ZeroMQOptions()
        options.curve = curve
        // Two messages queued at most: shard chunks then wait in the coordinator's queue and the
        // kernel's socket buffer, not in this process beside the shard being assembled (peak RSS ≈
        // one shard; with 4 workers a queue of 8 added 6 MB to each worker's peak).
        options.receiveHighWaterMark = 2
        connection = try ZeroMQTransport.connect(endpoint, options: options)
        transport = layer(connection)
        hello = MessageCodec.encode(.hello(Hello(name: name)))
        try transport.send(hello, to: nil)

        let deadline = ContinuousClock.now + registerTimeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                let failure = connection.handshakeFailure()
                transport.close()
                if let failure { throw WorkerError.handshakeFailed(endpoint: endpoint, detail: failure) }
                throw WorkerError.noCoordinator(endpoint: endpoint, seconds: registerTimeout.inSeconds, curve: curve != nil)
            }
            if let failure = connection.handshakeFailure(), failure.contains("refused") {
                transport.close()
                throw WorkerError.handshakeFailed(endpoint: endpoint, detail: failure)
            }
            guard let (_, result) = try transport.receiveMessage(timeoutMilliseconds: min(left.inMilliseconds, 250)) else {
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
                throw WorkerError.refused(reason: r.reason)
            case .failure(.versionMismatch(let expected, let got)):
                transport.close()
                throw WorkerError.refused(reason: "protocol version mismatch: this worker speaks \(expected), the coordinator \(got)")
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
                    try transport.send(hello, to: nil)
                    lastHello = .now
                }
                continue
            }
            // PARAMS from a coordinator on this machine may be a reference to its shared copy.
            let shared = connection.sharedParameters(in: envelope)
            if let shared { missedSharedParameters = (try? shared.get()) == nil }
            let result = shared?.map(Message.params) ?? Result { () throws(WireError) in try MessageCodec.decode(envelope) }
            switch result {
            case .success(let message):
                lastHeard = .now
                if case .heartbeat = message { continue }
                if case .welcome(let w) = message { welcome = w }
                return message
            case .failure(let error):
                rejectedFrames += 1
                log.warning("dropped a message that failed to decode: \(error)")
            }
        }
    }

    /// On an ipc:// endpoint (the coordinator on this machine), offers it memory shared with this
    /// process, through which the gradient segments travel instead of the socket
    /// (`ZeroMQTransport.offerSharedMemory`): a ring that holds a whole gradient, and the largest
    /// segment again for the gap a frame may leave at the ring's end. The coordinator takes every
    /// segment of a step out of the ring before it sends the next PARAMS, so a worker with one
    /// shard a step never finds it full. (One that held two of the largest segments sent half of
    /// them through the socket at small batches, where backprop outruns a busy coordinator.)
    ///
    /// None the other way: PARAMS comes as a reference to the coordinator's shared parameters
    /// (`ParameterBoard`), one copy for every local worker. Through a ring the coordinator would
    /// copy the parameter set once per worker, one worker after the other, at the one point of a
    /// step where every worker waits for it (0.12 ms each, traced): measured with 2 workers, that
    /// made a step 8% slower than the socket (docs/PERFORMANCE.md).
    func offerSharedMemory(layout: ParameterLayout) {
        let slack = 64 << 10
        let largestSegment = layout.segments.map(\.range.count).max() ?? layout.count
        let sending = (layout.count + largestSegment) * MemoryLayout<Float>.size + slack
        if connection.offerSharedMemory(sending: sending, receiving: 0) {
            log.debug("offered the coordinator shared memory: \(sending) bytes toward it")
        }
    }

    func send(_ message: Message) throws {
        try send(frames: MessageCodec.encode(message))
    }

    /// Sends a message already encoded.
    func send(frames: [[UInt8]]) throws {
        try transport.send(frames, to: nil)
        beatLock.withLock { lastSentUnlocked = .now }
    }

    /// Sends `partial` with the float32 `gradients`, encoded where it travels from: into the ring
    /// toward the coordinator when it goes that way (one pass over the values, no frame to copy).
    func send(_ partial: Partial, gradients: UnsafeBufferPointer<Float>) throws {
        guard let frameBytes = MessageCodec.partialFrameBytes(count: gradients.count) else {
            return try send(frames: MessageCodec.encodePartial(partial, gradients: gradients))
        }
        try transport.send(frameBytes: frameBytes) {
            MessageCodec.encodePartial(partial, gradients: gradients, into: $0)
        }
        beatLock.withLock { lastSentUnlocked = .now }
    }

    /// How the session's gradient frames travelled, for the log: through shared memory, or
    /// through the socket for want of room in the ring.
    var sharedMemorySummary: String? {
        guard connection.usesSharedMemory else { return nil }
        let (shared, withoutRoom) = (connection.sharedFrameCounts.sent, connection.framesSentWithoutRoom)
        return "\(shared) frames through shared memory, \(withoutRoom) through the socket for want of room"
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
                let (running, due) = beatLock.withLock { (beating, !waiting && ContinuousClock.now - lastSentUnlocked >= beat) }
                guard running else { return }
                if due { try? send(.heartbeat(Heartbeat(step: 0))) }
            }
        }
    }
}
