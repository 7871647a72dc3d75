/// What `FaultInjectingTransport` does on purpose to the messages a rule picks: by direction,
/// kind, step, and the rank of the WELCOME the transport saw arrive.
public struct FaultRule: Sendable, Equatable {
    public enum Direction: Sendable, Equatable {
        case outgoing, incoming
    }

    public enum Action: Sendable, Equatable {
        /// The message never arrives.
        case drop
        /// The message is held back this long, the thread that sends or receives it waiting.
        case delay(Duration)
        /// The message arrives twice.
        case duplicate
        /// The message arrives altered.
        case corrupt(Corruption)
        /// The process stops as the message passes, before it is delivered.
        case halt(Halt)
    }

    public enum Corruption: Sendable, Equatable {
        /// One payload byte flipped: the frame fails its checksum.
        case payloadByte
        /// A PARTIAL's gradients replaced by NaN and the frame encoded again: well-formed, checksum
        /// and all, so only a check of the values finds it.
        case nanGradients
        /// A HELLO claiming another protocol version, in its header and its payload.
        case protocolVersion(UInt16)
    }

    public enum Halt: Sendable, Equatable {
        /// Ends the process at once with this status: no goodbye, like a crash.
        case exit(status: Int32)
        /// Stops the process (SIGSTOP): alive but silent until it is sent SIGCONT.
        case stop
    }

    public var direction: Direction
    public var kind: MessageKind
    /// The step in the message's header; nil for every step.
    public var step: UInt64?
    /// The rank the last WELCOME received gave; nil for any rank, even before a WELCOME.
    public var rank: UInt32?
    public var action: Action

    public init(_ direction: Direction, _ kind: MessageKind, step: UInt64? = nil, rank: UInt32? = nil, action: Action) {
        self.direction = direction
        self.kind = kind
        self.step = step
        self.rank = rank
        self.action = action
    }

    /// Whether the rule picks a message of `kind` and `step` going `direction`, the transport's
    /// rank being `rank`.
    func picks(_ direction: Direction, _ kind: MessageKind, step: UInt64, rank: UInt32?) -> Bool {
        direction == self.direction && kind == self.kind && (self.step == nil || self.step == step)
            && (self.rank == nil || self.rank == rank)
    }
}
