#if canImport(Glibc)
    import Glibc
#endif

/// A `WorkerTransport` over another that does on purpose, to the messages its rules pick, what a faulty
/// network or peer would: drops, delays, duplicates or corrupts them, or stops the process as they
/// pass (ps-lite's PS_DROP_MSG as a layer). Tests use it, and workers under `DESCENT_FAULTS`.
///
/// It reads frame headers, and the reference a PARAMS on shared parameters travels as; a message
/// only to learn its rank from a WELCOME, or to encode it again corrupted. A frame moved into
/// memory shared with the peer passes as a reference, which no rule picks: for rules to reach
/// such frames, this layer goes above the one that moves them.
///
/// `@unchecked Sendable`: the rank and the duplicates waiting to be received are guarded by `lock`.
public final class FaultInjectingTransport: WorkerTransport, @unchecked Sendable {
    /// Called for a `.halt` rule, with the kind and step of the message it picked.
    public typealias HaltHandler = @Sendable (FaultRule.Halt, MessageKind, _ step: UInt64) -> Void

    public let rules: [FaultRule]
    private let inner: any WorkerTransport
    private let halt: HaltHandler
    private let lock = Lock()
    private var rankUnlocked: UInt32?
    private var duplicatesUnlocked: [Envelope] = []

    /// - Parameter halt: what a `.halt` rule does; by default, to this process (`haltProcess`).
    public init(
        wrapping inner: any WorkerTransport, rules: [FaultRule],
        halt: @escaping HaltHandler = { halt, _, _ in FaultInjectingTransport.haltProcess(halt) }
    ) {
        self.inner = inner
        self.rules = rules
        self.halt = halt
    }

    /// The rank in the last WELCOME received; nil before one.
    public var rank: UInt32? {
        lock.withLock { rankUnlocked }
    }

    public func send(_ frames: [[UInt8]]) throws(WireError) {
        let delivery = apply(.outgoing, to: frames)
        for _ in 0..<delivery.copies {
            try inner.send(delivery.frames)
        }
    }

    /// Waits as `inner` would; a message dropped does not end the wait.
    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        if let duplicate = lock.withLock({ duplicatesUnlocked.isEmpty ? nil : duplicatesUnlocked.removeFirst() }) {
            return duplicate
        }
        let deadline = ContinuousClock.now + .milliseconds(max(timeoutMilliseconds, 0))
        var wait = timeoutMilliseconds
        while true {
            guard let envelope = try inner.receive(timeoutMilliseconds: wait) else { return nil }
            learnRank(from: envelope)
            let delivery = apply(.incoming, to: envelope.frames)
            if delivery.copies > 0 {
                let delivered =
                    delivery.altered
                    ? Envelope(
                        peer: envelope.peer, frames: delivery.frames, address: envelope.address,
                        senderProcessID: envelope.senderProcessID,
                        framesFromSharedMemory: envelope.framesFromSharedMemory)
                    : envelope
                lock.withLock { duplicatesUnlocked += repeatElement(delivered, count: delivery.copies - 1) }
                return delivered
            }
            guard timeoutMilliseconds >= 0 else { continue }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            wait = Int(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
        }
    }

    /// What the layer below delivers its own way (shared parameters) it reads.
    public func decode(_ envelope: Envelope) -> Result<Message, WireError> {
        inner.decode(envelope)
    }

    public func beginSession(bytesInFlight: Int) {
        inner.beginSession(bytesInFlight: bytesInFlight)
    }

    public func handshakeFailure() -> String? {
        inner.handshakeFailure()
    }

    public var sharedMemoryCounters: SharedMemoryCounters { inner.sharedMemoryCounters }

    public func sharedParameters(step: UInt64) -> Result<Params, WireError>? { inner.sharedParameters(step: step) }

    public func close() {
        inner.close()
    }

    /// Ends this process (`exit`) or stops it (SIGSTOP), as `halt` says.
    public static func haltProcess(_ halt: FaultRule.Halt) {
        switch halt {
        case .exit(let status): exit(status)
        case .stop: raise(SIGSTOP)
        }
    }

    /// What becomes of a message once the rules that pick it have acted, in their order.
    private struct Delivery {
        var frames: [[UInt8]]
        /// 0 when dropped.
        var copies = 1
        var altered = false
    }

    private func apply(_ direction: FaultRule.Direction, to frames: [[UInt8]]) -> Delivery {
        var delivery = Delivery(frames: frames)
        guard let (kind, step) = Self.label(frames) else { return delivery }
        let rank = self.rank
        for rule in rules where rule.picks(direction, kind, step: step, rank: rank) {
            switch rule.action {
            case .drop:
                delivery.copies = 0
                return delivery
            case .delay(let duration):
                Self.sleep(duration)
            case .duplicate:
                delivery.copies += 1
            case .corrupt(let corruption):
                delivery.frames = corruption.apply(to: delivery.frames)
                delivery.altered = true
            case .halt(let action):
                halt(action, kind, step)
            }
        }
        return delivery
    }

    private func learnRank(from envelope: Envelope) {
        guard Self.label(envelope.frames)?.kind == .welcome,
            case .welcome(let welcome) = try? MessageCodec.decode(envelope.frames)
        else { return }
        lock.withLock { rankUnlocked = welcome.rank }
    }

    /// The kind and header step of the message in `frames`, read without checking the frame; nil
    /// for anything else.
    static func label(_ frames: [[UInt8]]) -> (kind: MessageKind, step: UInt64)? {
        guard let first = frames.first else { return nil }
        guard first.count >= WireProtocol.headerSize else { return nil }
        return first.withUnsafeBytes { raw in
            guard UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == WireProtocol.magic,
                let kind = MessageKind(rawValue: raw[6])
            else { return nil }
            return (kind, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var left = timespec()
        while nanosleep(&request, &left) == -1, errno == EINTR {
            request = left
        }
    }
}
