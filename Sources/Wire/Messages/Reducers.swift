/// Coordinator → worker, when the run has reducers (`--reducers S`, S ≥ 2) and again whenever one
/// of them changes: how the flat parameter vector is cut into ranges, and where the owner of each
/// range past the first takes the pieces of partial gradients that fall in it. Range 0 is the
/// coordinator's own, whose pieces travel as PARTIAL over the worker's own connection.
public struct Reducers: Sendable, Equatable {
    /// This worker's secret for joining reducers: it sends it in a `Join` first on each
    /// connection, and a reducer takes its pieces only while the coordinator lists it. Never 0.
    public var token: UInt64
    /// S + 1 offsets into the flat parameter vector: 0 first, the parameter count last, strictly
    /// increasing; range r is `boundaries[r] ..< boundaries[r + 1]`. S is at most `maxRanges`.
    public var boundaries: [UInt32]
    /// S − 1 endpoints: reducer r's (`Hello.reducerEndpoint`) at index r − 1.
    public var endpoints: [String]
    /// S − 1 CURVE public keys (Z85), reducer r's at index r − 1; all empty when the reducers'
    /// inboxes are plaintext.
    public var publicKeys: [String]
    /// Whether the reducers send the workers their ranges of each step's W, b themselves
    /// (PARAMS_PART, `--broadcast reducers`), the coordinator only range 0; otherwise the
    /// parameters come as without reducers.
    public var broadcast: Bool

    /// The most ranges a run may cut its parameters into (S).
    public static let maxRanges = 64

    public init(
        token: UInt64, boundaries: [UInt32], endpoints: [String], publicKeys: [String], broadcast: Bool = false
    ) {
        self.token = token
        self.boundaries = boundaries
        self.endpoints = endpoints
        self.publicKeys = publicKeys
        self.broadcast = broadcast
    }
}
