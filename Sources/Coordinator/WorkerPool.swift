import Core
import Logging
import Wire

/// The coordinator's side of the workers, as a `GradientSource`: the trainer cannot tell it from
/// the in-process reference, and the bits agree.
///
/// It composes the parts: `Membership` (who computes which shard), `StepExchange` (a step's
/// messages and timings), `PartialValidator` (whether a partial may be added) and `Arbiter` (the
/// coordinator's own partial when a worker's is poisoned). Partials already in stay in when a
/// worker is lost: each is exact whoever computed it, and they are added by the fixed tree.
final class WorkerPool: TimedGradientSource {
    private(set) var lastTimings = StepTimings()
    /// Messages dropped: undecodable, from strangers, stale, duplicated or implausible.
    private(set) var rejected = 0
    let settings: PoolSettings
    private let plan: ShardPlan
    private let layout: ParameterLayout
    private let log: Logger
    let outbox: WorkerOutbox
    private let inbox: WorkerInbox
    let membership: Membership
    let exchange: StepExchange
    private let validator: PartialValidator
    /// Made once the data is known (`start`).
    private(set) var arbiter: Arbiter?
    /// `/status`, and the warning when a step waits longer than usual.
    private let watch: StepWatch
    /// When the coordinator computes late shards itself.
    private var backup: Backup
    /// How the parameters reach the workers.
    private let broadcast: Broadcast
    /// `--reducers S`, S > 1: the processes that sum and update ranges 1…S−1.
    let reducers: ReducerGroup?
    /// The step's accumulator, for messages that arrive outside `computePartials` (while a
    /// checkpoint's state is gathered).
    private(set) var current: GradientAccumulator?
    /// The buffer last made whole (`--broadcast reducers`: the reducers' ranges fetched into it),
    /// and after which step: asked again for the same, nothing is fetched.
    var gathered: (step: Int, buffer: ObjectIdentifier)?

    var workerCount: Int { membership.workers.count }
    /// Whether any worker is suspected of being late (`Backup`): its shards are computed here.
    var hasSuspects: Bool { membership.workers.contains { backup.isSuspect($0.rank) } }
    var mixedArithmetic: [String] { membership.mixedArithmetic }

    init(
        transport: any CoordinatorTransport, settings: PoolSettings, layout: ParameterLayout, plan: ShardPlan,
        supervisor: LocalWorkers?, status: RunStatus = RunStatus(), log: Logger
    ) {
        self.settings = settings
        watch = StepWatch(status: status, log: log)
        self.plan = plan
        self.layout = layout
        self.log = log
        outbox = WorkerOutbox(transport: transport)
        inbox = WorkerInbox(transport: transport)
        membership = Membership(
            settings: settings, shape: layout.shape, plan: plan, outbox: outbox, supervisor: supervisor, log: log)
        let ranges = settings.reducers > 1 ? ReductionRanges(layout: layout, count: settings.reducers) : nil
        let outbox = self.outbox
        reducers = ranges.map { ranges in
            ReducerGroup(
                ranges: ranges, layout: layout, shardCount: plan.shardCount, settings: settings, outbox: outbox,
                supervisor: supervisor, log: log)
        }
        exchange = StepExchange(
            outbox: outbox, inbox: inbox, layout: layout, ranges: ranges, addsByTree: settings.compress == .float32,
            log: log)
        // A 16-bit partial is the worker's rounding of its own: only Float32 ones can be stood in for.
        backup = Backup(after: settings.compress == .float32 ? settings.backupAfter : nil)
        broadcast = Broadcast(mode: settings.broadcast, fanout: settings.relayFanout)
        validator = PartialValidator(
            shardCount: plan.shardCount, segments: (ranges?.pieces.map(\.range)) ?? layout.segments.map(\.range),
            encoding: settings.compress)
        if let reducers { exchange.reducersHold = { reducers.covers(shard: $0) } }
    }

    var reduction: (ranges: ReductionRanges, local: Set<Int>)? { reducers.map { ($0.ranges, [0]) } }

    /// Bytes of the last step's partials that came through memory shared with local workers.
    var lastStepBytesReceivedShared: Int { exchange.lastBytesReceivedShared }

    // MARK: Start

    /// Waits for the expected workers, places the shards and sends each its data.
    func start(dataset: Dataset) throws {
        arbiter = Arbiter(dataset: dataset, plan: plan, layout: layout)
        if let reducers { arbiter?.onComputed = { reducers.sendPieces(of: $0, gradients: $1, statistics: $2) } }
        let deadline = ContinuousClock.now + settings.registerTimeout
        var said = ContinuousClock.now
        while membership.workers.count < settings.expectedWorkers || !(reducers?.isComplete ?? true) {
            try Interruption.check()
            try membership.checkRegistering()
            guard ContinuousClock.now < deadline else {
                if let reducers, !reducers.isComplete, membership.workers.count >= settings.expectedWorkers {
                    throw CoordinatorError.notEnoughReducers(
                        expected: reducers.expected, arrived: reducers.members.count,
                        seconds: settings.registerTimeout.inSeconds)
                }
                throw CoordinatorError.notEnoughWorkers(
                    expected: settings.expectedWorkers, arrived: membership.workers.count,
                    seconds: settings.registerTimeout.inSeconds)
            }
            if ContinuousClock.now - said >= .seconds(5) {
                said = .now
                membership.logWaiting(until: deadline)
            }
            try receiveOne(timeout: .milliseconds(200))
            membership.promoteJoiners()
            // Those already here hear from the coordinator while it waits for the rest, so they
            // do not take its silence for a restart; one that vanished meanwhile is dropped.
            membership.checkLiveness(step: 0)
            try reducers?.checkLiveness()
        }
        membership.place(dataset)
        while let waiting = membership.firstUnready {
            try Interruption.check()
            guard ContinuousClock.now < deadline + settings.registerTimeout else {
                throw CoordinatorError.shardsNotAcknowledged([waiting])
            }
            try receiveOne(timeout: .milliseconds(200))
            membership.checkLiveness(step: exchange.step)
            // Reducers hear from the coordinator too while the shards travel: one silent for 5 s
            // would take it for a restarted coordinator and register again.
            try reducers?.checkLiveness()
            // A worker lost while its shards were on their way: they go to the others, or to
            // whoever has registered since when none is left.
            try membership.checkMinimum()
        }
        log.info("\(plan.shardCount) shard(s) placed on \(membership.workers.count) worker(s)")
    }

    // MARK: Steps

    /// Publishes the step's parameters and sends every worker its STEP; `computePartials` then
    /// gathers the partials.
    func prepareUpdate(step: Int, learningRate: Float, exampleCount: Int, optimizer: Optimizer) throws {
        reducers?.prepare(step: step, learningRate: learningRate, exampleCount: exampleCount, optimizer: optimizer)
    }

    func beginPartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        exchange.begin(step: step, parameters: p, work: work)
        current = accumulator
        loseUnansweringSuspects()
        membership.admitJoiners()
        try reducers?.begin(parameters: p, work: exchange.work, tokens: membership.workers.map(\.token))
        membership.completeMoves()
        // Speeds are averages over several partials: a move is considered every few steps.
        if step % 8 == 0 { membership.startMove() }
        let relaying = membership.workers.filter { !backup.isSuspect($0.rank) }
        for worker in broadcast.arrange(relaying, outbox: outbox) {
            membership.lose(worker, reason: "its connection is gone")
        }
        var bytes = 0
        for worker in membership.workers { bytes += try request(from: worker, accumulator: accumulator) }
        exchange.finishSending(bytes: bytes)
        watch.begin(step: step, membership: membership, work: exchange.work, accumulator: accumulator)
        // The suspects' shards, computed here while the other workers compute theirs.
        let suspected = exchange.work.keys.filter { membership.owner[$0].map(backup.isSuspect) ?? false }
        if !suspected.isEmpty { try backUp(suspected.sorted(), accumulator: accumulator, late: false) }
    }

    func computePartials(
        step: Int, parameters p: ParameterBuffer, work: [ShardWork], into accumulator: GradientAccumulator
    ) throws {
        if exchange.begun != step { try beginPartials(step: step, parameters: p, work: work, into: accumulator) }
        // Once: what is still missing after it (a shard with no owner) is waited for as before.
        var due = backup.due(started: exchange.startedAt, typicalSeconds: watch.typicalStepSeconds)
        var allIn: ContinuousClock.Instant?
        while !accumulator.isComplete {
            try Interruption.check()
            membership.checkLiveness(step: step)
            try reducers?.checkLiveness()
            if let reducers, accumulator.isCompleteHere {
                allIn = allIn ?? .now
                try reducers.checkFinishing(step: step, since: allIn!)
            }
            try membership.checkMinimum()
            try rescueOrphans()
            let wait = due.map { min(settings.heartbeat, max(.zero, $0 - .now)) } ?? settings.heartbeat
            exchange.received(bytes: try receiveOne(timeout: wait, accumulator: accumulator))
            watch.check(step: step, membership: membership, work: exchange.work, accumulator: accumulator)
            if let late = due, ContinuousClock.now >= late, !accumulator.isComplete {
                due = nil
                try backUp(exchange.work.keys.sorted(), accumulator: accumulator, late: true)
            }
        }
        lastTimings = exchange.finish(
            lostWorkers: membership.lost, rejectedMessages: rejected, shardMoves: membership.moves,
            backups: backup.shards)
        if let reducers { lastTimings.reducerBytesReceived = [exchange.gradientBytes] + reducers.bytesReceived }
        watch.finish(step: step, membership: membership)
    }

    /// Computes those of `shards` whose partials are not in yet on the coordinator (`Backup`):
    /// a suspect's at the start of a step, or every missing one once the step is `late`. A late
    /// worker that had sent nothing this step becomes a suspect, and its speed sample is the wait.
    private func backUp(_ shards: [Int], accumulator: GradientAccumulator, late: Bool) throws {
        // Below --min-workers the run waits for joiners or stops: the coordinator does not carry it.
        guard let arbiter, let parameters = exchange.parameters, membership.workers.count >= settings.minWorkers
        else { return }
        try wholeParameters()
        let started = ContinuousClock.now
        var byOwner: [Int: [Int]] = [:]
        var examples = 0
        for shard in shards
        where !exchange.isIn(shard: shard, accumulator: accumulator) && membership.owner[shard] != nil {
            guard let work = exchange.work[shard] else { continue }
            examples += try arbiter.settle(work, step: exchange.step, parameters: parameters.values, into: accumulator)
            byOwner[membership.owner[shard]!, default: []].append(shard)
        }
        guard !byOwner.isEmpty else { return }
        exchange.countBackup(examples: examples, seconds: (ContinuousClock.now - started).inSeconds)
        let owners = byOwner.keys.sorted().compactMap { rank in membership.workers.first { $0.rank == rank } }
        var silent = late ? owners.filter { ($0.lastPartial ?? exchange.startedAt) <= exchange.startedAt } : []
        // A worker whose parameters come through a silent relay is not at fault.
        let silentRanks = Set(silent.map(\.rank))
        silent.removeAll { broadcast.isDownstream(of: silentRanks, $0.rank) }
        let suspects = backup.computed(byOwner.values.reduce(0) { $0 + $1.count }, silent: Set(silent.map(\.rank)))
        guard late else { return }
        let waited = (started - exchange.startedAt).inSeconds
        let usual = watch.typicalStepSeconds.map { String(format: " (usually %.3f s)", $0) } ?? ""
        for worker in owners {
            let shards = byOwner[worker.rank] ?? []
            worker.recordCompute(
                seconds: waited, examples: shards.reduce(0) { $0 + (exchange.work[$1]?.selection.count ?? 0) })
            let then = suspects.contains(worker.rank) ? "; it is not asked again until it answers" : ""
            log.info(
                """
                step \(exchange.step) waited \(String(format: "%.3f", waited)) s\(usual) for worker \(worker.rank) \
                (\(worker.label)): the coordinator computed its shard(s) \(shards) itself, and drops its own \
                partials if they come\(then)
                """)
        }
    }

    /// A suspect that has not answered for `--worker-timeout` is lost, though it may still beat
    /// (a hung computation): its shards move to workers that answer.
    private func loseUnansweringSuspects() {
        for rank in backup.unanswered(for: settings.workerTimeout) {
            backup.answered(rank)
            guard let worker = membership.workers.first(where: { $0.rank == rank }) else { continue }
            let seconds = String(format: "%.1f", settings.workerTimeout.inSeconds)
            membership.lose(
                worker,
                reason: "it has sent no partial for more than \(seconds) s (the coordinator computed its shards)")
        }
    }

    /// Sends the whole parameters to workers of the broadcast tree below a lost or suspected
    /// relay that still owe partials this step: their pieces may never come.
    private func rescueOrphans() throws {
        guard exchange.begun != nil else { return }
        let present = Set(membership.workers.map(\.rank))
        let suspects = Set(membership.workers.map(\.rank).filter(backup.isSuspect))
        for rank in broadcast.orphans(present: present, stalled: suspects) {
            guard let worker = membership.workers.first(where: { $0.rank == rank }) else { continue }
            do {
                exchange.sent(bytes: try exchange.sendParameters(to: worker))
            } catch {
                guard case .peerUnreachable = error else { throw error }
                membership.lose(worker, reason: "its connection is gone")
            }
        }
    }

    /// Asks `worker` for its shards' partials (`StepExchange.request`); a worker that cannot be
    /// reached is lost. Returns the bytes sent.
    private func request(from worker: PoolWorker, accumulator: GradientAccumulator) throws -> Int {
        guard !backup.isSuspect(worker.rank) else { return 0 }
        do {
            if let reducers, !worker.toldReducers {
                try outbox.send(.reducers(reducers.configuration(token: worker.token)), to: worker.peer)
                worker.toldReducers = true
            }
            return try exchange.request(from: worker, accumulator: accumulator, route: broadcast.route(worker.rank))
        } catch {
            guard case .peerUnreachable = error else { throw error }
            membership.lose(worker, reason: "its connection is gone")
            return 0
        }
    }

    // MARK: Messages

    /// Waits up to `timeout` for one message and acts on it; returns the bytes received.
    @discardableResult
    func receiveOne(timeout: Duration, accumulator: GradientAccumulator? = nil) throws -> Int {
        membership.pumpShards()
        // While chunks wait for room, look again soon: a worker drains its queue in milliseconds.
        let wait = membership.isSendingShards ? min(timeout, .milliseconds(2)) : timeout
        guard let arrival = try inbox.receive(timeout: wait) else { return 0 }
        if let reducers, let member = reducers.member(for: arrival.peer) {
            let (refused, poisoned) = try reducers.handle(
                arrival.message, from: member, accumulator: accumulator ?? current)
            if refused { rejected += 1 }
            if let poisoned { try overrule(poisoned, from: member, accumulator: accumulator ?? current) }
            return arrival.bytes
        }
        guard let worker = membership.worker(for: arrival.peer) else {
            register(arrival)
            return arrival.bytes
        }
        worker.lastHeard = .now
        switch arrival.message {
        case .success(.partial(let partial)):
            try take(partial, from: worker, accumulator: accumulator)
        case .success(.shardReady(let ready)):
            worker.hasSpoken = true
            guard membership.markReady(shardID: ready.shardID, examples: ready.examples, by: worker) else {
                rejected += 1
                break
            }
            if let accumulator { exchange.sent(bytes: try request(from: worker, accumulator: accumulator)) }
        case .success(.heartbeat(let beat)):
            // A worker that skipped a step it came back to too late (its parameters had moved on)
            // names that step: it is alive and computing, as a partial would have shown.
            if beat.step > 0, backup.answered(worker.rank) {
                log.info(
                    "worker \(worker.rank) (\(worker.label)) answers again (it skipped step \(beat.step), too late for it): it is asked for its shards from the next step"
                )
            }
        case .success(.hello):
            guard worker.hasSpoken else {
                // One worker, one registration: the WELCOME it has been sent answers this too.
                log.debug("worker \(worker.rank) (\(worker.label)) said hello again before doing anything: ignored")
                break
            }
            // A worker that had worked saying hello again has started over and lost what it held.
            membership.lose(worker, reason: "it registered again")
            register(arrival)
        case .success(.bye(let bye)):
            membership.lose(worker, reason: "it said goodbye: \(bye.reason)")
        case .success, .failure:
            rejected += 1
        }
        return arrival.bytes
    }

    private func register(_ arrival: WorkerInbox.Arrival) {
        if case .success(.hello(let hello)) = arrival.message, !hello.reducerEndpoint.isEmpty,
            hello.protocolVersion == WireProtocol.protocolVersion
        {
            guard let reducers else {
                // Taken for a worker, it would be sent shards it never confirms.
                rejected += 1
                log.error("refused reducer \(hello.name): this run has no reducers (--reducers 1)")
                let reason = "refused as a reducer: this run has no reducers (--reducers 1)"
                try? outbox.send(.refuse(Refuse(reason: reason)), to: arrival.peer)
                return
            }
            if !reducers.register(arrival.peer, hello, address: arrival.address) { rejected += 1 }
            return
        }
        if !membership.register(arrival.peer, arrival.message, address: arrival.address) { rejected += 1 }
    }

    /// Adds `partial` if the validator accepts it. A poisoned one is overruled: the coordinator
    /// computes that shard itself (`Arbiter`), and the worker is dropped.
    private func take(_ partial: Partial, from worker: PoolWorker, accumulator: GradientAccumulator?) throws {
        worker.lastPartial = .now
        worker.hasSpoken = true
        if backup.answered(worker.rank) {
            log.info(
                "worker \(worker.rank) (\(worker.label)) answers again: it is asked for its shards from the next step")
        }
        guard let accumulator else {
            rejected += 1
            return
        }
        let verdict = validator.verdict(
            on: partial, step: exchange.step, hostedShards: worker.shards, work: exchange.work,
            accumulator: accumulator)
        switch verdict {
        case .accept:
            exchange.gather(partial, from: worker, into: accumulator)
        case .ignore(let reason):
            rejected += 1
            log.debug("ignored a partial from worker \(worker.rank) (\(worker.label)): \(reason)")
        case .poisoned(let reason):
            rejected += 1
            // Every shard the bad partial stood for (all asked of this worker: the validator
            // checked that before it judged the values).
            try settle(partial.span, accumulator: accumulator)
            membership.lose(worker, reason: "it sent a bad partial: \(reason)")
        }
    }

    /// Says goodbye to the workers (`Membership.sayGoodbye`) and closes the transport.
    func shutdown(reason: String, resumable: Bool) {
        reducers?.sayGoodbye(reason: reason)
        membership.sayGoodbye(reason: reason, resumable: resumable)
        outbox.close()
    }
}
