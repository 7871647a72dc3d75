/// The constants of Descent's wire protocol; `docs/PROTOCOL.md` describes how they are used.
///
/// The first eight bytes of a frame (magic, version, kind, flags) keep their places in every
/// future version, so a peer of any version can tell that it is talking to another version.
public enum WireProtocol {
    /// "DSCT", written little-endian like every header field: the bytes 54 43 53 44.
    public static let magic: UInt32 = 0x4453_4354
    /// Bumped on any change to the header, a payload layout or what a field means (3: how a
    /// gradient is cut into PARTIAL segments; 4: the shared parameters hold two slots; 5: HELLO
    /// carries the arithmetic profile, WELCOME and REFUSE the BLAS kernel; 6: partials are added
    /// by a fixed tree, a PARTIAL may carry a node of it and a STEP says when to add them; 7: HELLO
    /// offers a relay endpoint, RELAY and PARAMS_PART carry the broadcast tree; 8: a frame in
    /// shared memory carries the flag `inSharedMemory` instead of a checksum, and a worker takes
    /// shared parameters from the board by its STEP, sent no PARAMS; 9: reducers by parameter
    /// range, HELLO offers a reducer endpoint and key, REDUCERS … REDUCER_NOTE); peers must match
    /// exactly.
    public static let protocolVersion: UInt16 = 10
    /// Bytes; large messages are cut into frames of at most this much payload.
    public static let maxFramePayload = 4 << 20
    /// Bytes: magic 4, version 2, kind 1, flags 1, step 8, part 2, parts 2, length 4, CRC 4.
    public static let headerSize = 28
    /// Bytes of UTF-8; longer strings are cut on a scalar boundary when encoded.
    public static let maxStringBytes = 4096
    /// Float32 values a piece of the parameter vector carries at most (RANGE_STATE, REDUCED, and
    /// PARAMS_PART as reducers send it): what fits one frame after the 28 bytes of fields before them.
    public static let maxValuesPerPiece = (maxFramePayload - 28) / 4

    /// `range` of the flat parameter vector cut into pieces of at most `maxValuesPerPiece` values,
    /// in order: each travels as one message of one frame.
    public static func pieces(of range: Range<Int>) -> [Range<Int>] {
        stride(from: range.lowerBound, to: range.upperBound, by: maxValuesPerPiece).map {
            $0..<min($0 + maxValuesPerPiece, range.upperBound)
        }
    }
}

/// What a message is, as the one-byte `kind` field of every frame header.
public enum MessageKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case hello = 1
    case welcome = 2
    case refuse = 3
    case shard = 4
    case shardReady = 5
    case step = 6
    case partial = 7
    case heartbeat = 8
    case bye = 9
    case params = 10
    case relay = 11
    case paramsPart = 12
    case reducers = 13
    case join = 14
    case reducerAssign = 15
    case rangeState = 16
    case stateRequest = 17
    case reduceStep = 18
    case reduced = 19
    case reducerNote = 20
    case localSteps = 21

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .refuse: "REFUSE"
        case .shard: "SHARD"
        case .shardReady: "SHARD_READY"
        case .step: "STEP"
        case .partial: "PARTIAL"
        case .heartbeat: "HEARTBEAT"
        case .bye: "BYE"
        case .params: "PARAMS"
        case .relay: "RELAY"
        case .paramsPart: "PARAMS_PART"
        case .reducers: "REDUCERS"
        case .join: "JOIN"
        case .reducerAssign: "REDUCER_ASSIGN"
        case .rangeState: "RANGE_STATE"
        case .stateRequest: "STATE_REQUEST"
        case .reduceStep: "REDUCE_STEP"
        case .reduced: "REDUCED"
        case .reducerNote: "REDUCER_NOTE"
        case .localSteps: "LOCAL_STEPS"
        }
    }
}
