import Core
import Logging
import Wire

/// The reducers of a run with `--reducers S` (issue 21): processes that each sum one range of the
/// parameters (`ReductionRanges`) from the workers' pieces, by the reduction tree, update it by the
/// run's optimizer and send the coordinator the new values. The coordinator sums and updates range
/// 0 itself, commits the step once every range is in and finite, and keeps what must survive:
/// W, b whole after every step, and the reducers' moments gathered for each checkpoint.
///
/// A reducer is registered like a worker (a HELLO naming the endpoint where it takes pieces), is
/// given its range (REDUCER_ASSIGN) and, at the first step, its state (RANGE_STATE); every step it
/// is told the step's learning rate, example count and the tokens of the workers whose pieces it
/// may take (REDUCE_STEP). A reducer lost ends the run: its range's moments and its half-summed
/// step are gone, so the run stops with the last checkpoint to resume from (`reducerLost`).
final class ReducerGroup {
    /// What the coordinator knows of one reducer.
    final class Member {
        let peer: PeerID
        let rank: Int
        let name: String
        let address: String?
        /// Where workers send it pieces, and its CURVE public key (Z85) when encrypted.
        let endpoint: String
        let publicKey: String
        var lastHeard = ContinuousClock.now
        /// Whether it holds its range's state (sent at the first step it takes part in).
        var loaded = false
        /// This step: values of its range in (REDUCED), and the bytes of pieces it took.
        var delivered = 0
        var bytesReceived = 0
        /// This step: shards all of whose pieces of its range it holds (REDUCER_NOTE).
        var covered: Set<Int> = []
        /// Values in for the state asked for (`requestState`), by part (W, b and each moment).
        var stateIn = [0, 0, 0]

        var label: String { address.map { "\(name) at \($0)" } ?? name }

        init(peer: PeerID, rank: Int, name: String, address: String?, endpoint: String, publicKey: String) {
            self.peer = peer
            self.rank = rank
            self.name = name
            self.address = address
            self.endpoint = endpoint
            self.publicKey = publicKey
        }
    }

    let ranges: ReductionRanges
    /// Reducers by rank (1…S−1).
    private(set) var members: [Int: Member] = [:]
    private let layout: ParameterLayout
    private let shardCount: Int
    private let settings: PoolSettings
    private let outbox: WorkerOutbox
    private let supervisor: LocalWorkers?
    private let log: Logger
    /// The step under way, its update, and the optimizer whose moments the reducers hold part of.
    private var step = 0
    private var learningRate: Float = 0
    private var exampleCount = 0
    private var optimizer: Optimizer?
    /// Where the state asked for goes, by part (W, b; each moment): nil for a part not asked for.
    private var gathering: [ParameterBuffer?] = [nil, nil, nil]
    /// Whether the reducers send the workers their ranges of W, b (`--broadcast reducers`).
    var broadcasts: Bool { settings.broadcast == .reducers }
    private var lastBeat = ContinuousClock.now

    init(
        ranges: ReductionRanges, layout: ParameterLayout, shardCount: Int, settings: PoolSettings,
        outbox: WorkerOutbox, supervisor: LocalWorkers?, log: Logger
    ) {
        precondition(ranges.count >= 2, "reducers need two ranges or more")
        self.ranges = ranges
        self.layout = layout
        self.shardCount = shardCount
        self.settings = settings
        self.outbox = outbox
        self.supervisor = supervisor
        self.log = log
    }

    /// S − 1: the reducers the run waits for.
    var expected: Int { ranges.count - 1 }

    var isComplete: Bool { members.count == expected }

    func member(for peer: PeerID) -> Member? { members.values.first { $0.peer == peer } }

    // MARK: Registration

    /// Takes a reducer's HELLO: it is given the first free range, or refused when every range has
    /// its reducer or it does not compute as the run does. Returns whether it was admitted.
    func register(_ peer: PeerID, _ hello: Hello, address: String?) -> Bool {
        let at = address.map { " at \($0)" } ?? ""
        let run = settings.arithmetic.profile
        var problem: String?
        if hello.profile.features.architecture != run.features.architecture {
            problem = "it runs on \(hello.profile.features.architecture), the run on \(run.features.architecture)"
        } else if hello.profile.elementary != run.elementary {
            problem = "its elementary functions are \(hello.profile.elementary), the run's \(run.elementary)"
        } else if isComplete {
            problem = "this run's \(expected) reducer(s) are all registered"
        }
        if let problem {
            log.error("refused reducer \(hello.name)\(at): \(problem)")
            try? outbox.send(.refuse(Refuse(reason: "refused as a reducer: \(problem)")), to: peer)
            return false
        }
        let rank = (1...expected).first { members[$0] == nil }!
        let member = Member(
            peer: peer, rank: rank, name: hello.name, address: address, endpoint: hello.reducerEndpoint,
            publicKey: hello.reducerPublicKey)
        members[rank] = member
        let range = ranges.range(rank)
        // The WELCOME completes its registration; its range and state come with its first step.
        try? outbox.send(
            .welcome(
                Welcome(
                    rank: UInt32(rank), heartbeatMilliseconds: UInt32(settings.heartbeat.inMilliseconds),
                    threads: 1, layers: layout.shape.layers.map(UInt32.init),
                    activation: layout.shape.activation.rawValue, seed: settings.seed,
                    blasKernel: hello.profile.kernel)),
            to: peer)
        log.info(
            "reducer \(rank) registered: \(member.label), taking pieces at \(member.endpoint); it reduces parameters \(range.lowerBound)…\(range.upperBound - 1) (\(range.count) values)"
        )
        return true
    }

    /// The first reducer lost, and why: the run stops, and no state can be gathered after it.
    private(set) var broken: CoordinatorError?

    /// Notes `member` lost: the error that ends the run.
    private func lost(rank: Int, name: String, reason: String) -> CoordinatorError {
        let error = CoordinatorError.reducerLost(rank: rank, name: name, reason: reason)
        if broken == nil { broken = error }
        return error
    }

    /// What a worker is told of the reducers, with its token for joining them.
    func configuration(token: UInt64) -> Reducers {
        let ranks = 1...expected
        return Reducers(
            token: token, boundaries: ranges.boundaries.map(UInt32.init),
            endpoints: ranks.map { members[$0]?.endpoint ?? "" },
            publicKeys: ranks.map { members[$0]?.publicKey ?? "" },
            broadcast: broadcasts)
    }

    // MARK: Steps

    /// The update of `step`, before it begins.
    func prepare(step: Int, learningRate: Float, exampleCount: Int, optimizer: Optimizer) {
        self.step = step
        self.learningRate = learningRate
        self.exampleCount = exampleCount
        self.optimizer = optimizer
    }

    /// Begins the step at every reducer: a reducer's state first, the first time (W, b of its
    /// range from `parameters`, moments from the optimizer), then REDUCE_STEP with `tokens`, the
    /// workers whose pieces it may take, and each shard's example count.
    func begin(parameters: ParameterBuffer, work: [Int: ShardWork], tokens: [UInt64]) throws {
        let examples = (0..<shardCount).map { UInt32(work[$0]?.selection.count ?? 0) }
        for member in members.values.sorted(by: { $0.rank < $1.rank }) {
            member.delivered = 0
            member.bytesReceived = 0
            member.covered = []
            do {
                if !member.loaded { try sendState(to: member, parameters: parameters) }
                try outbox.send(
                    .reduceStep(
                        ReduceStep(
                            step: UInt64(step), learningRate: learningRate, exampleCount: UInt32(exampleCount),
                            tokens: tokens, shardExamples: examples)),
                    to: member.peer)
            } catch {
                throw lost(rank: member.rank, name: member.label, reason: "\(error)")
            }
        }
    }

    /// Sends `member` its range's W, b and moments, in pieces of at most a frame, after the
    /// committed step before this one.
    private func sendState(to member: Member, parameters: ParameterBuffer) throws(WireError) {
        guard let optimizer else { return }
        let range = ranges.range(member.rank)
        let parts: [(RangeReducer.Part, ParameterBuffer?)] = [
            (.values, parameters), (.firstMoment, optimizer.firstMoment), (.secondMoment, optimizer.secondMoment),
        ]
        try outbox.send(
            .reducerAssign(
                ReducerAssign(
                    rank: UInt32(member.rank), heartbeatMilliseconds: UInt32(settings.heartbeat.inMilliseconds),
                    layers: layout.shape.layers.map(UInt32.init), activation: layout.shape.activation.rawValue,
                    shardCount: UInt32(shardCount), boundaries: ranges.boundaries.map(UInt32.init),
                    optimizer: settings.optimizer, updates: UInt64(optimizer.updates), step: UInt64(step - 1),
                    broadcast: broadcasts)),
            to: member.peer)
        for (part, buffer) in parts {
            guard let buffer else { continue }
            let pieces = MessageCodec.encodePieces(of: buffer.values, range: range) { offset, values in
                .rangeState(
                    RangeState(
                        step: UInt64(step - 1), updates: UInt64(optimizer.updates), offset: UInt32(offset),
                        part: UInt8(part.rawValue), values: values))
            }
            for piece in pieces { try outbox.send(piece, to: member.peer) }
        }
        member.loaded = true
    }

    /// Whether every reducer holds all its pieces of shard k this step.
    func covers(shard k: Int) -> Bool { members.values.allSatisfy { $0.covered.contains(k) } }

    /// Sends each reducer its pieces of the partial of `span` that the coordinator computed
    /// itself (a late or poisoned worker's shards): a reducer adds those it lacks.
    func sendPieces(
        of span: Range<Int>, gradients: UnsafePointer<Float>, statistics: GradientAccumulator.Statistics
    ) {
        for member in members.values {
            for index in ranges.pieces(of: member.rank) {
                let piece = ranges.pieces[index]
                let partial = Partial(
                    step: UInt64(step), shardID: UInt32(span.lowerBound), shardSpan: UInt32(span.count),
                    segment: UInt32(index), exampleCount: UInt32(statistics.examples),
                    correctCount: UInt32(statistics.correct), lossSum: statistics.lossSum, gradients: .float32([]))
                let frames = MessageCodec.encodePartial(
                    partial,
                    gradients: UnsafeBufferPointer(start: gradients + piece.range.lowerBound, count: piece.range.count))
                try? outbox.send(frames, to: member.peer)
            }
        }
    }

    /// What a reducer's message does: REDUCED values go to the accumulator, REDUCER_NOTE marks
    /// coverage (or names a poisoned worker, returned), RANGE_STATE fills gathered moments.
    /// Returns the token of a worker a reducer found poisoned, with the span and the reason.
    func handle(
        _ message: Result<Message, WireError>, from member: Member, accumulator: GradientAccumulator?
    ) throws -> (rejected: Bool, poisoned: (token: UInt64, span: Range<Int>, reason: String)?) {
        member.lastHeard = .now
        switch message {
        case .success(.reduced(let reduced)):
            return (!take(reduced, from: member, accumulator: accumulator), nil)
        case .success(.reducerNote(let note)):
            guard note.step == UInt64(step), Int(note.shardID) + Int(note.shardSpan) <= shardCount, note.shardSpan > 0
            else { return (true, nil) }
            let span = Int(note.shardID)..<Int(note.shardID) + Int(note.shardSpan)
            if note.verdict == 0 {
                member.covered.formUnion(span)
                return (false, nil)
            }
            return (false, (note.token, span, note.reason))
        case .success(.rangeState(let state)):
            return (!takeState(state, from: member), nil)
        case .success(.heartbeat):
            return (false, nil)
        case .success(.bye(let bye)):
            throw lost(rank: member.rank, name: member.label, reason: "it said goodbye: \(bye.reason)")
        case .success(.hello):
            // The same connection: the reducer took a long silence for a restarted coordinator,
            // but holds its state; it hears from the coordinator again at once. (A restarted
            // reducer comes on a new connection, and this one falls silent.)
            log.debug("reducer \(member.rank) (\(member.label)) said hello again on its connection: ignored")
            return (false, nil)
        case .success, .failure:
            return (true, nil)
        }
    }

    /// Takes REDUCED values in order of offset, each value once; checks them here too (a marks
    /// word can say anything): a non-finite value makes the step not commit.
    private func take(_ reduced: Reduced, from member: Member, accumulator: GradientAccumulator?) -> Bool {
        let range = ranges.range(member.rank)
        let offset = Int(reduced.offset)
        guard let accumulator, reduced.step == UInt64(step), offset == range.lowerBound + member.delivered else {
            return false
        }
        if reduced.values.count == 0 {
            // `--broadcast reducers`: the values went to the workers; the marks say they are finite.
            guard broadcasts, member.delivered == 0 else { return false }
            member.delivered = range.count
            member.bytesReceived = Int(reduced.bytesReceived)
            accumulator.takeReduced(range, values: nil, marks: reduced.marks)
            return true
        }
        guard offset + reduced.values.count <= range.upperBound else { return false }
        member.delivered += reduced.values.count
        member.bytesReceived = Int(reduced.bytesReceived)
        reduced.values.withUnsafeFloats { values in
            var marks = reduced.marks
            if !Finiteness.allFinite(values.baseAddress!, count: values.count) { marks |= 0x8000_0000 }
            accumulator.takeReduced(offset..<offset + values.count, values: values.baseAddress!, marks: marks)
        }
        return true
    }

    // MARK: State

    /// Asks every reducer for its range of the state after the committed step `step`: the
    /// buffers given (W, b into `parameters`, the moments into `optimizer`'s), each filled as its
    /// pieces come (`stateComplete`).
    func requestState(step: Int, parameters: ParameterBuffer?, optimizer: Optimizer?) throws {
        if let broken { throw broken }
        let targets = [parameters, optimizer?.firstMoment, optimizer?.secondMoment]
        var parts: UInt8 = 0
        for (part, target) in targets.enumerated() where target != nil { parts |= 1 << part }
        guard parts != 0 else { return }
        gathering = targets
        for member in members.values {
            member.stateIn = [0, 0, 0]
            do {
                try outbox.send(.stateRequest(StateRequest(step: UInt64(step), parts: parts)), to: member.peer)
            } catch {
                throw lost(rank: member.rank, name: member.label, reason: "\(error)")
            }
        }
    }

    /// Whether every part asked for is in.
    var stateComplete: Bool {
        members.values.allSatisfy { member in
            let length = ranges.range(member.rank).count
            return gathering.indices.allSatisfy { gathering[$0] == nil || member.stateIn[$0] == length }
        }
    }

    func finishGathering() { gathering = [nil, nil, nil] }

    private func takeState(_ state: RangeState, from member: Member) -> Bool {
        let range = ranges.range(member.rank)
        let offset = Int(state.offset)
        let part = Int(state.part)
        guard part < gathering.count, let buffer = gathering[part],
            offset == range.lowerBound + member.stateIn[part], offset + state.values.count <= range.upperBound,
            state.values.withUnsafeFloats({ Finiteness.allFinite($0.baseAddress!, count: $0.count) })
        else { return false }
        state.values.copy(into: buffer.values + offset)
        member.stateIn[part] += state.values.count
        return true
    }

    // MARK: Liveness

    /// Beats to every reducer when a beat is due; a reducer silent past the worker timeout, or
    /// whose local process exited, ends the run.
    func checkLiveness() throws {
        let now = ContinuousClock.now
        if now - lastBeat >= settings.heartbeat {
            for member in members.values {
                try? outbox.send(.heartbeat(Heartbeat(step: UInt64(step))), to: member.peer)
            }
            lastBeat = now
        }
        let exited = supervisor?.exitedNames() ?? []
        for member in members.values {
            if exited.contains(member.name) {
                throw lost(rank: member.rank, name: member.label, reason: "its process exited")
            }
            if now - member.lastHeard > settings.workerTimeout {
                throw lost(
                    rank: member.rank, name: member.label,
                    reason: "silent for more than \(settings.workerTimeout.inSeconds) s")
            }
        }
    }

    /// Throws when the coordinator's own range of the step has been complete since `since`, for
    /// `--worker-timeout` (late shards it computes itself long before that), and a reducer still
    /// has not sent its range's values: alive but unable to finish, it would hold the run forever.
    func checkFinishing(step: Int, since: ContinuousClock.Instant) throws {
        guard ContinuousClock.now - since > settings.workerTimeout else { return }
        let range = { (member: Member) in self.ranges.range(member.rank).count }
        guard let stuck = members.values.sorted(by: { $0.rank < $1.rank }).first(where: { $0.delivered < range($0) })
        else { return }
        throw lost(
            rank: stuck.rank, name: stuck.label,
            reason:
                "step \(step)'s gradients have been in at the coordinator for \(settings.workerTimeout.inSeconds) s, but it has not sent its range's values"
        )
    }

    /// The bytes of pieces each reducer took in the step just finished, by rank.
    var bytesReceived: [Int] { (1...expected).compactMap { members[$0]?.bytesReceived } }

    func sayGoodbye(reason: String) {
        for member in members.values { try? outbox.send(.bye(Bye(reason: reason)), to: member.peer) }
    }
}
