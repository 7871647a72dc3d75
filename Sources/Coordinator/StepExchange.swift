import Core
import Logging
import Wire

/// One step between the coordinator and its workers: PARAMS and STEP out to each worker for its
/// ready shards, the accepted partials into the accumulator, and the step's timings.
final class StepExchange {
    /// The step under way (0 before the first).
    private(set) var step = 0
    /// The step's work, by shard.
    private(set) var work: [Int: ShardWork] = [:]
    /// The step's W, b and their PARAMS, as each worker takes them.
    private(set) var parameters: StepParameters?
    /// The step whose STEP messages are out and whose partials are awaited, if any.
    private(set) var begun: Int?
    /// Which worker (by rank) each shard was asked of in this step: a shard that has moved since
    /// is asked of its new owner.
    private var askedOf: [Int: Int] = [:]
    /// Workers sent (or routed) the step's parameters, by rank.
    private var served: Set<Int> = []
    private let outbox: WorkerOutbox
    private let inbox: WorkerInbox
    private let log: Logger
    private let layout: ParameterLayout
    /// The piece whose compute time covers a shard's whole computation: the coordinator's piece of
    /// the segment backprop finishes last.
    private let lastPiece: Int
    private let addsByTree: Bool
    /// With reducers: whether every reducer holds all its pieces of a shard. A shard is in only
    /// when the coordinator's pieces are and this says so; a shard asked again in a step is asked
    /// on its own, since a reducer may hold pieces of a node it belonged to.
    var reducersHold: ((Int) -> Bool)?
    /// Range 0 of the parameters, and its PARAMS_PART messages of the step they were made for.
    private let rangeZero: Range<Int>?
    private var rangeZeroFrames: (step: Int, frames: [[[UInt8]]])?
    /// Bytes of gradient values in the partials taken this step, for `reducer_bytes_received`.
    private(set) var gradientBytes = 0
    /// A 16-bit partial read back to Float32, for the accumulator to add.
    private lazy var decoded = ParameterBuffer(layout: layout)
    private var timings = StepTimings()
    private var started = ContinuousClock.now
    private var sent = ContinuousClock.now
    private var reduce = Duration.zero
    private var sharedBytesBefore = 0
    /// Bytes of the last step's partials that came through memory shared with local workers.
    private(set) var lastBytesReceivedShared = 0

    /// - Parameter addsByTree: workers add the shards they hold by the reduction tree before they
    ///   send them (Float32 partials; a 16-bit one is rounded with its own shard's residual).
    init(
        outbox: WorkerOutbox, inbox: WorkerInbox, layout: ParameterLayout, ranges: ReductionRanges? = nil,
        addsByTree: Bool = true, log: Logger
    ) {
        self.addsByTree = addsByTree
        self.outbox = outbox
        self.inbox = inbox
        self.log = log
        self.layout = layout
        rangeZero = ranges?.range(0)
        let lastSegment = layout.segments.count - 1
        lastPiece =
            ranges.flatMap { ranges in ranges.pieces.indices.first { ranges.pieces[$0].segment == lastSegment } }
            ?? lastSegment
    }

    /// The step's range 0 of W, b as PARAMS_PART messages (`--broadcast reducers`), encoded once.
    private func rangeZeroPieces() -> [[[UInt8]]] {
        if let rangeZeroFrames, rangeZeroFrames.step == step { return rangeZeroFrames.frames }
        guard let values = parameters?.values, let range = rangeZero else { return [] }
        let frames = MessageCodec.encodePieces(of: values.values, range: range) { offset, piece in
            .paramsPart(
                ParamsPart(step: UInt64(step), offset: UInt32(offset), total: UInt32(values.count), values: piece))
        }
        rangeZeroFrames = (step, frames)
        return frames
    }

    /// Whether shard k's partial is all in: the coordinator's pieces, and every reducer's.
    func isIn(shard k: Int, accumulator: GradientAccumulator) -> Bool {
        accumulator.has(shard: k) && (reducersHold?(k) ?? true)
    }

    /// When the step began.
    var startedAt: ContinuousClock.Instant { started }

    /// Starts `step`: publishes its parameters; `request` then asks each worker for its shards.
    func begin(step: Int, parameters p: ParameterBuffer, work: [ShardWork]) {
        started = .now
        timings = StepTimings()
        reduce = .zero
        gradientBytes = 0
        sharedBytesBefore = inbox.sharedBytesReceived
        self.step = step
        self.work = Dictionary(uniqueKeysWithValues: work.map { ($0.shard, $0) })
        askedOf = [:]
        served = []
        parameters = StepParameters(step: step, values: p)
        begun = step
    }

    /// Sends `worker` the step's whole parameters, which it may not get down the broadcast tree;
    /// returns the bytes sent.
    func sendParameters(to worker: PoolWorker) throws(WireError) -> Int {
        guard let params = parameters?.outgoing else { return 0 }
        served.insert(worker.rank)
        return try outbox.send(params, to: worker.peer)
    }

    /// Marks the end of the step's sending, `bytes` in all: what follows is waiting for partials.
    func finishSending(bytes: Int) {
        sent = .now
        timings.bytesSent = bytes
        timings.send = (sent - started).inSeconds
    }

    /// Sends `worker` the step's parameters (the whole PARAMS, unless `route` says the broadcast
    /// tree brings them; asked again in the same step, it is always sent them whole) and a STEP
    /// for its ready shards whose partials are neither in nor asked of it; returns the bytes sent.
    @discardableResult
    func request(
        from worker: PoolWorker, accumulator: GradientAccumulator, route: Broadcast.Route = .whole
    ) throws(WireError) -> Int {
        let shards = worker.ready.intersection(worker.shards).sorted().filter {
            work[$0] != nil && askedOf[$0] != worker.rank && !isIn(shard: $0, accumulator: accumulator)
        }
        guard !shards.isEmpty else { return 0 }
        // The worker adds its shards by the tree first, unless one of them is partly in already
        // (asked again of a new owner mid-step): a node of it could then never be taken.
        let combines =
            addsByTree
            && !shards.contains { accumulator.touched(shard: $0) || (reducersHold != nil && askedOf[$0] != nil) }
        let frames = MessageCodec.encode(
            .step(
                Step(
                    step: UInt64(step), treeShards: combines ? UInt32(accumulator.shardCount) : 0,
                    plan: shards.compactMap { work[$0] })))
        guard let params = parameters?.outgoing else { return 0 }
        let first = served.insert(worker.rank).inserted
        var paramsBytes = 0
        switch first || route == .rangeZero ? route : .whole {
        case .whole: paramsBytes = try outbox.send(params, to: worker.peer)
        case .rangeZero:
            // The worker keeps what the reducers sent it when asked again within the step.
            for piece in rangeZeroPieces() {
                try outbox.send(piece, to: worker.peer)
                paramsBytes += piece.reduce(0) { $0 + $1.count }
            }
        case .pieces:
            for piece in params.parts {
                try outbox.send(piece, to: worker.peer)
                paramsBytes += piece.reduce(0) { $0 + $1.count }
            }
        case .relayed: break
        }
        try outbox.send(frames, to: worker.peer)
        for shard in shards { askedOf[shard] = worker.rank }
        // Logged again when it changes: the shared parameters may be taken up after the first STEP.
        if let route = outbox.route(to: worker.peer), route != worker.loggedRoute {
            worker.loggedRoute = route
            log.debug("worker \(worker.rank) (\(worker.label)): \(route)")
        }
        return paramsBytes + frames.reduce(0) { $0 + $1.count }
    }

    // MARK: Gathering

    /// Adds an accepted partial from `worker` — a shard's, or a node's of the tree — to `accumulator`.
    func gather(_ partial: Partial, from worker: PoolWorker, into accumulator: GradientAccumulator) {
        let segment = Int(partial.segment)
        // The last segment's time covers the shard's whole computation; count the examples once.
        gradientBytes += partial.gradients.count * (partial.encoding.isSixteenBit ? 2 : 4)
        if segment == lastPiece {
            let seconds = partial.computeSeconds.isFinite ? max(0, partial.computeSeconds) : 0
            timings.compute += seconds
            timings.computeSlowest = max(timings.computeSlowest, seconds)
            timings.examplesByWorker[worker.rank, default: 0] += Int(partial.exampleCount)
            worker.recordCompute(seconds: seconds, examples: Int(partial.exampleCount))
        }
        switch partial.gradients {
        case .float16(let bits): decode(bits, from: .float16)
        case .bfloat16(let bits): decode(bits, from: .bfloat16)
        case .float32: break
        }
        let before = ContinuousClock.now
        defer { reduce += .now - before }
        func add(_ g: UnsafePointer<Float>) {
            accumulator.add(
                partial.span, segment: segment, values: g,
                statistics: .init(
                    examples: Int(partial.exampleCount), correct: Int(partial.correctCount),
                    lossSum: partial.lossSum))
        }
        switch partial.gradients {
        case .float32(let g): g.withUnsafeFloats { add($0.baseAddress!) }
        case .float16, .bfloat16: add(decoded.values)
        }
    }

    /// Reads 16-bit gradients back into the start of `decoded`.
    private func decode(_ bits: HalfArray, from encoding: GradientEncoding) {
        guard bits.count > 0 else { return }
        bits.withUnsafeBits { encoding.dequantize($0.baseAddress!, count: $0.count, into: decoded.values) }
    }

    /// Counts `examples` the coordinator computed itself (rank −1) to overrule a bad partial.
    func countSettled(examples: Int) {
        timings.examplesByWorker[-1, default: 0] += examples
    }

    /// Counts `examples` the coordinator computed in `seconds` because their partials were late.
    func countBackup(examples: Int, seconds: Double) {
        timings.examplesByWorker[-1, default: 0] += examples
        timings.compute += seconds
    }

    /// Counts time spent on the step's sum outside `gather`.
    func countReduce(_ duration: Duration) {
        reduce += duration
    }

    /// Counts bytes sent after the step's first round of requests.
    func sent(bytes: Int) {
        timings.bytesSent += bytes
    }

    /// Counts a message received while the step's partials are awaited.
    func received(bytes: Int) {
        timings.bytesReceived += bytes
    }

    /// Ends the step: its timings, with the pool's running counts of lost workers and rejected
    /// messages.
    func finish(lostWorkers: Int, rejectedMessages: Int, shardMoves: Int = 0, backups: Int = 0) -> StepTimings {
        begun = nil
        timings.backups = backups
        timings.lostWorkers = lostWorkers
        timings.shardMoves = shardMoves
        timings.rejectedMessages = rejectedMessages
        timings.reduce = reduce.inSeconds
        lastBytesReceivedShared = inbox.sharedBytesReceived - sharedBytesBefore
        timings.wait = (ContinuousClock.now - sent - reduce).inSeconds
        return timings
    }
}
