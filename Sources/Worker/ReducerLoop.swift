import Core
import Logging
import Wire

/// The reducer's role (`worker --reduce-at`, `--reducers`): it holds one range of the parameters
/// and their moments, takes the workers' pieces of that range each step, adds them by the
/// reduction tree and updates the range (`Core.RangeReducer`), then sends the coordinator the new
/// values (REDUCED). It checks every piece as the coordinator checks a partial
/// (`PartialValidator`), tells the coordinator which shards are all in (REDUCER_NOTE), and names a
/// worker whose piece is poisoned; the coordinator computes those shards itself and sends their
/// pieces here.
final class ReducerLoop {
    private let link: CoordinatorLink
    private let dealer: ReducerDealer
    private var log: Logger

    init(link: CoordinatorLink, dealer: ReducerDealer, log: Logger) {
        self.link = link
        self.dealer = dealer
        self.log = log
    }

    /// Serves sessions until the coordinator says goodbye; a new WELCOME starts a new session.
    func run() throws {
        while try serve() {}
        log.info(
            """
            the inbox refused \(dealer.refused) message(s) and holds \(dealer.heldCount) from tokens never allowed; \
            \(link.rejectedFrames) message(s) failed to decode, \(strays) from the inbox were not pieces
            """)
        link.close()
    }

    /// Messages other than PARTIAL that came through the inbox rather than from the coordinator,
    /// and were dropped.
    private var strays = 0

    /// What one assignment holds.
    private struct Session {
        let reducer: RangeReducer
        let validator: PartialValidator
        /// Whether this reducer sends the workers its range of W, b (`--broadcast reducers`).
        let broadcast: Bool
        /// The tokens of the step under way: the workers sent the range's values.
        var tokens: Set<UInt64> = []
        /// The step under way, its examples by shard (as `ShardWork`, for the validator).
        var work: [Int: ShardWork] = [:]
        /// Bytes of gradient values taken this step.
        var bytes = 0
        /// Shards whose pieces of the range are all in this step, told to the coordinator.
        var noted: Set<Int> = []
        /// Pieces of the next step, come before its REDUCE_STEP.
        var early: [(peer: PeerID?, partial: Partial)] = []
    }

    /// Pieces of a step not begun yet that are kept until it begins; more are dropped.
    private static let earlyLimit = 4096

    /// One registration's worth of work; returns true when the coordinator welcomed this reducer
    /// anew.
    private func serve() throws -> Bool {
        log[metadataKey: "reducer"] = "\(link.welcome.rank)"
        log.info(
            "registered with \(link.endpoint) as reducer \(link.welcome.rank), taking pieces at \(dealer.endpoint)")
        var session: Session?
        while true {
            let (peer, message) = try link.nextWithPeer()
            // Workers send the inbox a JOIN and pieces, nothing else: what steers the reducer
            // (REDUCER_ASSIGN, RANGE_STATE, REDUCE_STEP, STATE_REQUEST, WELCOME, BYE, REFUSE) counts
            // only from its coordinator. The inbox lets through JOINs and PARTIALs alone; this
            // holds the line again.
            if peer != nil, message.kind != .partial, message.kind != .join {
                strays += 1
                log.warning("dropped a \(message.kind) that came through the inbox, not from the coordinator")
                continue
            }
            switch message {
            case .reducerAssign(let assign):
                session = try start(assign)
            case .rangeState(let state):
                guard let reducer = session?.reducer, let part = RangeReducer.Part(rawValue: Int(state.part)),
                    state.values.withUnsafeFloats({ reducer.load(part, offset: Int(state.offset), values: $0) })
                else {
                    throw WorkerError.protocolViolation(
                        "RANGE_STATE part \(state.part) at \(state.offset) (\(state.values.count) values) lies outside this reducer's range"
                    )
                }
            case .reduceStep(let step):
                guard session != nil else { throw WorkerError.protocolViolation("REDUCE_STEP before REDUCER_ASSIGN") }
                try begin(step, in: &session!)
            case .join:
                // A worker joining after its step's values went out is sent them now.
                if let session, session.broadcast, let peer, let token = dealer.token(of: peer) {
                    sendValues(session, to: [(peer, token)])
                }
            case .partial(let partial):
                guard session != nil else { continue }
                try take(partial, from: peer, in: &session!)
            case .stateRequest(let request):
                guard let reducer = session?.reducer else { continue }
                try sendState(of: reducer, after: Int(request.step), parts: request.parts)
            case .welcome:
                log.notice("the coordinator welcomed this reducer anew (it restarted); starting over")
                return true
            case .bye(let bye):
                log.info("coordinator said goodbye: \(bye.reason)")
                return false
            case .refuse(let refuse):
                throw WorkerError.refused(reason: refuse.reason)
            case let other:
                log.debug("ignored an unexpected \(other.kind) message")
            }
        }
    }

    /// With `--broadcast reducers`: the parameters of the step under way, this range of them, to
    /// the workers among `peers` whose token the step lists (a worker that joined, or was listed,
    /// after they went to the others).
    private func sendValues(_ session: Session, to peers: [(peer: PeerID, token: UInt64)]) {
        let reducer = session.reducer
        guard let current = reducer.current, let values = reducer.state(.values) else { return }
        let listed = peers.filter { session.tokens.contains($0.token) }.map(\.peer)
        guard !listed.isEmpty else { return }
        let frames = valueFrames(values, of: reducer, step: current)
        for peer in listed { for message in frames { _ = dealer.send(message, toWorker: peer) } }
    }

    /// `values`, the reducer's range of W, b, as the PARAMS_PART messages of `step`.
    private func valueFrames(_ values: UnsafeBufferPointer<Float>, of reducer: RangeReducer, step: Int) -> [[[UInt8]]] {
        MessageCodec.encodePieces(of: Self.vector(values, reducer), range: reducer.range) { offset, piece in
            .paramsPart(
                ParamsPart(
                    step: UInt64(step), offset: UInt32(offset), total: UInt32(reducer.layout.count), values: piece))
        }
    }

    /// Where the flat vector starts of which `range` lies at `values` (the reducer's buffers are
    /// whole; it hands out only its range of them).
    private static func vector(_ values: UnsafeBufferPointer<Float>, _ reducer: RangeReducer) -> UnsafePointer<Float> {
        values.baseAddress! - reducer.range.lowerBound
    }

    /// REDUCER_ASSIGN: the range, the network, the optimizer and where it stands; the state follows.
    private func start(_ assign: ReducerAssign) throws -> Session {
        guard let activation = Activation(rawValue: assign.activation),
            let shape = try? NetworkShape(layers: assign.layers.map(Int.init), activation: activation)
        else { throw WorkerError.protocolViolation("REDUCER_ASSIGN names no network this build knows") }
        let layout = ParameterLayout(shape: shape)
        guard let ranges = ReductionRanges(layout: layout, boundaries: assign.boundaries.map(Int.init)),
            Int(assign.rank) >= 1, Int(assign.rank) < ranges.count, assign.shardCount >= 1
        else {
            throw WorkerError.protocolViolation(
                "REDUCER_ASSIGN gives range \(assign.rank) of \(assign.boundaries) over \(layout.count) parameters")
        }
        let reducer = RangeReducer(
            layout: layout, shards: Int(assign.shardCount), ranges: ranges, rank: Int(assign.rank),
            optimizer: assign.optimizer, updates: Int(assign.updates), step: Int(assign.step))
        let range = reducer.range
        log.info(
            "reducing parameters \(range.lowerBound)…\(range.upperBound - 1) (\(range.count) of \(layout.count)) with \(assign.optimizer.kind), from step \(assign.step)"
        )
        return Session(
            reducer: reducer,
            validator: PartialValidator(
                shardCount: Int(assign.shardCount), segments: ranges.pieces.map(\.range), encoding: .float32),
            broadcast: assign.broadcast)
    }

    /// REDUCE_STEP: the step's update and whose pieces count; pieces that came early are taken now.
    private func begin(_ step: ReduceStep, in session: inout Session) throws {
        guard step.shardExamples.count == session.reducer.accumulator.shardCount else {
            throw WorkerError.protocolViolation(
                "REDUCE_STEP \(step.step) counts examples of \(step.shardExamples.count) shards, the run has \(session.reducer.accumulator.shardCount)"
            )
        }
        guard
            session.reducer.begin(
                step: Int(step.step), learningRate: step.learningRate, exampleCount: Int(step.exampleCount))
        else {
            throw WorkerError.protocolViolation(
                "REDUCE_STEP \(step.step) does not follow step \(session.reducer.committed), or the range's state is not all here"
            )
        }
        dealer.allowedTokens = Set(step.tokens)
        let listed = Set(step.tokens).subtracting(session.tokens)
        session.tokens = Set(step.tokens)
        if session.broadcast {
            // Workers new to the run, or asked for the first time, have not been sent this step's values.
            sendValues(session, to: dealer.peers(joinedWith: listed).map { ($0, dealer.token(of: $0) ?? 0) })
        }
        session.work = [:]
        // Every shard is in every step, some with no examples in an epoch's short last step.
        for (shard, count) in step.shardExamples.enumerated() {
            session.work[shard] = ShardWork(shard: shard, selection: .range(0..<Int(count)))
        }
        session.bytes = 0
        session.noted = []
        let early = session.early
        session.early = []
        for (peer, partial) in early where partial.step == step.step {
            try take(partial, from: peer, in: &session)
        }
    }

    /// PARTIAL: a piece of this range from a worker (or from the coordinator, which computed the
    /// shards itself); added when it checks out.
    private func take(_ partial: Partial, from peer: PeerID?, in session: inout Session) throws {
        let reducer = session.reducer
        guard let current = reducer.current else {
            if partial.step == UInt64(reducer.committed + 1) { keepEarly(partial, from: peer, in: &session) }
            return
        }
        if partial.step == UInt64(current + 1) { return keepEarly(partial, from: peer, in: &session) }
        let all = Set(0..<reducer.accumulator.shardCount)
        switch session.validator.verdict(
            on: partial, step: current, hostedShards: all, work: session.work, accumulator: reducer.accumulator)
        {
        case .accept:
            guard case .float32(let values) = partial.gradients else { return }
            session.bytes += values.count * MemoryLayout<Float>.size
            values.withUnsafeFloats { floats in
                reducer.accumulator.add(
                    partial.span, segment: Int(partial.segment), values: floats.baseAddress!,
                    statistics: .init(
                        examples: Int(partial.exampleCount), correct: Int(partial.correctCount),
                        lossSum: partial.lossSum))
            }
            try note(partial.span, in: &session)
            if reducer.isComplete { try sendResult(of: reducer, bytes: session.bytes, session: session) }
        case .ignore(let reason):
            log.debug("ignored a piece: \(reason)")
        case .poisoned(let reason):
            let token = peer.flatMap { dealer.token(of: $0) } ?? 0
            log.warning("a poisoned piece of \(PartialValidator.name(partial.span)): \(reason)")
            try link.send(
                .reducerNote(
                    ReducerNote(
                        step: partial.step, shardID: partial.shardID, shardSpan: partial.shardSpan,
                        verdict: ReducerNote.poisoned, reason: reason, token: token)))
        }
    }

    private func keepEarly(_ partial: Partial, from peer: PeerID?, in session: inout Session) {
        guard session.early.count < Self.earlyLimit else { return }
        session.early.append((peer, partial))
    }

    /// Tells the coordinator of the shards of `span` whose pieces of this range are now all in,
    /// one note per run of them.
    private func note(_ span: Range<Int>, in session: inout Session) throws {
        let accumulator = session.reducer.accumulator
        let complete = span.filter { !session.noted.contains($0) && accumulator.has(shard: $0) }
        guard let first = complete.first, let current = session.reducer.current else { return }
        session.noted.formUnion(complete)
        var start = first
        var previous = first
        for shard in complete.dropFirst() + [Int.max] {
            if shard == previous + 1 {
                previous = shard
                continue
            }
            try link.send(
                .reducerNote(
                    ReducerNote(
                        step: UInt64(current), shardID: UInt32(start), shardSpan: UInt32(previous - start + 1),
                        verdict: ReducerNote.complete)))
            (start, previous) = (shard, shard)
        }
    }

    /// REDUCED: the range's new values and marks, in pieces of at most a frame; with `--broadcast
    /// reducers` the values go to the step's workers instead (as the next step's parameters) and
    /// REDUCED carries only the marks.
    private func sendResult(of reducer: RangeReducer, bytes: Int, session: Session) throws {
        guard let current = reducer.current, let (values, marks) = reducer.result() else { return }
        if session.broadcast {
            let frames = valueFrames(values, of: reducer, step: current + 1)
            for peer in dealer.peers(joinedWith: session.tokens) {
                for message in frames { _ = dealer.send(message, toWorker: peer) }
            }
            try link.send(
                .reduced(
                    Reduced(
                        step: UInt64(current), marks: marks, bytesReceived: UInt64(bytes),
                        offset: UInt32(reducer.range.lowerBound), values: FloatArray([]))))
            return
        }
        let pieces = MessageCodec.encodePieces(of: Self.vector(values, reducer), range: reducer.range) {
            offset, piece in
            .reduced(
                Reduced(
                    step: UInt64(current), marks: marks, bytesReceived: UInt64(bytes), offset: UInt32(offset),
                    values: piece))
        }
        for piece in pieces { try link.send(frames: piece) }
    }

    /// STATE_REQUEST: the range's W, b or moments (as `parts` asks) after the committed step
    /// `step`, in pieces.
    private func sendState(of reducer: RangeReducer, after step: Int, parts: UInt8) throws {
        reducer.commit(through: step)
        guard reducer.committed == step else {
            throw WorkerError.protocolViolation(
                "STATE_REQUEST for step \(step), but this reducer's last committed step is \(reducer.committed)")
        }
        for part in [RangeReducer.Part.values, .firstMoment, .secondMoment] where parts & (1 << part.rawValue) != 0 {
            guard let values = reducer.state(part) else { continue }
            let pieces = MessageCodec.encodePieces(of: Self.vector(values, reducer), range: reducer.range) {
                offset, piece in
                .rangeState(
                    RangeState(
                        step: UInt64(step), updates: UInt64(reducer.optimizer.updates), offset: UInt32(offset),
                        part: UInt8(part.rawValue), values: piece))
            }
            for piece in pieces { try link.send(frames: piece) }
        }
    }
}
