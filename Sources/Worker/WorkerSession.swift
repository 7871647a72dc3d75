import Core
import Wire

/// What a worker holds through one session (from a WELCOME to the BYE or the next WELCOME): the
/// network's shape and layout, the shards it hosts, and the parameters of the step to compute.
struct WorkerSession {
    let rank: Int
    let shape: NetworkShape
    let layout: ParameterLayout
    /// How partials travel, as the WELCOME said.
    let encoding: GradientEncoding
    /// Where each segment of the gradient lies, in the order backprop finishes them.
    let segments: [Range<Int>]
    let workspace: Workspace
    /// Each partial is computed here, one after the other.
    let gradient: ParameterBuffer
    private(set) var shards: [Int: ShardData] = [:]
    /// With compression: each held shard's residual.
    private(set) var feedback: [Int: ErrorFeedback] = [:]
    /// With compression: what rounds the segments to 16 bits.
    let compressor: SegmentCompressor?
    private var assembler = ShardAssembler()
    /// The reduction tree over the run's shards, once the first SHARD chunk has said how many.
    private var tree: ReductionTree?
    /// Where the shards of a node of the tree are added before the node is sent, by node: those
    /// of the last step, reused while placement keeps them.
    private var nodeSums: [Range<Int>: GradientAccumulator] = [:]
    /// The parameters of the step whose PARAMS came last: where they lie in the frame that brought
    /// them, or in the coordinator's shared parameters (no copy either way). Let go once the STEP
    /// is done, so the frame is free before the next PARAMS arrives (every STEP follows its own
    /// PARAMS): a worker never holds two parameter sets.
    private var parameters: (step: UInt64, values: ParameterBuffer)?
    /// Where pieces of the parameters are put together, made at the first piece.
    private var assembly: ParamsAssembly?
    /// A STEP whose parameters are still on their way down the broadcast tree.
    var pending: Step?
    /// With reducers (REDUCERS): where each piece of the gradient goes.
    private(set) var reduction: Reduction?

    /// The ranges, each gradient segment's pieces (indices into `ranges.pieces`), the connections
    /// to reducers 1…S−1, and whether they send this worker their ranges of W, b.
    struct Reduction {
        let ranges: ReductionRanges
        let piecesOfSegment: [[Int]]
        let connections: ReducerConnections
        let broadcast: Bool
    }

    init(welcome: Welcome) throws {
        guard let activation = Activation(rawValue: welcome.activation) else {
            throw WorkerError.protocolViolation("unknown activation '\(welcome.activation)'")
        }
        do {
            shape = try NetworkShape(layers: welcome.layers.map(Int.init), activation: activation)
        } catch {
            throw WorkerError.protocolViolation("\(error)")
        }
        rank = Int(welcome.rank)
        let layout = ParameterLayout(shape: shape)
        self.layout = layout
        encoding = welcome.gradientEncoding
        segments = layout.segments.map(\.range)
        workspace = Workspace(shape: shape)
        gradient = ParameterBuffer(layout: layout)
        compressor = encoding.isSixteenBit ? SegmentCompressor(encoding: encoding, count: layout.count) : nil
    }

    /// Takes a SHARD chunk; returns the shard once its last chunk is in, and hosts it from then on.
    mutating func add(_ chunk: ShardChunk) throws -> ShardData? {
        guard chunk.features == UInt32(shape.inputs) else {
            throw WorkerError.protocolViolation(
                "shard \(chunk.shardID) has \(chunk.features) features, the network \(shape.inputs)")
        }
        guard chunk.shardID < chunk.shardCount, tree.map({ $0.shardCount == Int(chunk.shardCount) }) ?? true else {
            throw WorkerError.protocolViolation(
                "shard \(chunk.shardID) of \(chunk.shardCount), where the run has \(tree?.shardCount ?? 0) shards")
        }
        if tree == nil { tree = ReductionTree(shards: Int(chunk.shardCount)) }
        guard let shard = try assembler.add(chunk) else { return nil }
        shards[shard.id] = shard
        // A shard (re)assigned here starts with nothing owed: what its last host had not sent is
        // lost with that host.
        if encoding.isSixteenBit { feedback[shard.id] = ErrorFeedback(encoding: encoding, count: layout.count) }
        return shard
    }

    /// What `step` has this worker send, one partial each: its shards' nodes of the reduction
    /// tree when the STEP asks that they be added here (Float32 partials only: a 16-bit one is
    /// rounded with its own shard's residual), otherwise each shard on its own.
    /// Node sums of nodes no longer sent are let go (each holds a whole gradient).
    mutating func spans(for step: Step) throws -> [Range<Int>] {
        let shards = step.plan.map(\.shard)
        guard step.treeShards != 0, !encoding.isSixteenBit else { return shards.map { $0..<$0 + 1 } }
        guard let tree, Int(step.treeShards) == tree.shardCount else {
            throw WorkerError.protocolViolation(
                "step \(step.step) adds by a tree over \(step.treeShards) shards; the run has \(tree?.shardCount ?? 0)")
        }
        let spans = tree.cover(shards)
        if nodeSums.keys.contains(where: { !spans.contains($0) }) {
            nodeSums = nodeSums.filter { spans.contains($0.key) }
        }
        return spans
    }

    /// Where the shards of `node` are added: the same accumulator each step.
    mutating func nodeSum(_ node: Range<Int>) -> GradientAccumulator {
        if let sum = nodeSums[node] { return sum }
        let sum = GradientAccumulator(layout: layout, shards: tree!.shardCount, top: node)
        nodeSums[node] = sum
        return sum
    }

    /// Holds the parameters `params` carries for its STEP, where they lie when they can be read there.
    mutating func hold(_ params: Params) throws {
        guard params.values.count == layout.count else {
            throw WorkerError.protocolViolation(
                "step \(params.step) carries \(params.values.count) parameters, the network has \(layout.count)")
        }
        if let values = params.values.receivedFloats {
            // The buffer holds the message, and so its frame.
            parameters = (params.step, ParameterBuffer(layout: layout, borrowing: values, owner: params))
        } else {
            let copy = ParameterBuffer(layout: layout)
            params.values.copy(into: copy.values)
            parameters = (params.step, copy)
        }
    }

    /// Takes a piece of a step's parameters; once the last is in, holds them as `hold` would.
    /// Returns whether they are now complete.
    mutating func hold(_ part: ParamsPart) throws -> Bool {
        if assembly == nil { assembly = ParamsAssembly(layout: layout) }
        guard try assembly!.add(part), let complete = assembly?.complete else { return false }
        parameters = complete
        return true
    }

    /// Takes REDUCERS: from now on each segment goes out in pieces, each to its range's owner.
    mutating func take(_ reducers: Reducers, curve: (publicKey: String, secretKey: String)?) throws {
        guard let ranges = ReductionRanges(layout: layout, boundaries: reducers.boundaries.map(Int.init)),
            reducers.endpoints.count == ranges.count - 1
        else {
            throw WorkerError.protocolViolation(
                "REDUCERS cuts \(layout.count) parameters at \(reducers.boundaries) for \(reducers.endpoints.count) reducer(s)"
            )
        }
        guard compressor == nil || ranges.count == 1 else {
            throw WorkerError.protocolViolation("REDUCERS in a run whose partials travel in 16 bits")
        }
        reduction?.connections.close()
        let connections = try ReducerConnections(
            endpoints: reducers.endpoints, publicKeys: reducers.publicKeys, token: reducers.token, clientKeys: curve)
        reduction = Reduction(
            ranges: ranges, piecesOfSegment: segments.indices.map { ranges.pieces(inSegment: $0) },
            connections: connections, broadcast: reducers.broadcast)
    }

    /// Closes the connections to the reducers.
    mutating func closeReducers() {
        reduction?.connections.close()
        reduction = nil
    }

    /// Whether the parameters of `step` are held.
    func holdsParameters(for step: UInt64) -> Bool {
        parameters?.step == step || assembly?.complete?.step == step
    }

    /// The parameters held for `step`, let go here; nil when those held are another step's, or none.
    /// Those put together from pieces stay in the assembly: a STEP asked again in the same step
    /// (a shard moved here mid-step) finds them there.
    mutating func takeParameters(for step: UInt64) -> ParameterBuffer? {
        if let parameters, parameters.step == step {
            self.parameters = nil
            return parameters.values
        }
        guard let complete = assembly?.complete, complete.step == step else { return nil }
        return complete.values
    }

    /// Whether the reducers send this worker their ranges of each step's W, b (`--broadcast
    /// reducers`): a STEP then waits for them.
    var reducersBroadcast: Bool { reduction?.broadcast ?? false }
}
