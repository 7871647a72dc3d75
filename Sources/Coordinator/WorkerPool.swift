import Core
import Foundation
import Logging
import Wire

/// The coordinator's side of the workers: registration, shard placement, each step's broadcast
/// and gathering of partials, and recovery when workers come and go. A `GradientSource`, so the
/// trainer cannot tell it from the in-process reference — and the bits agree.
///
/// Every shard has one owner. A shard is computed only once its owner has confirmed holding its
/// data (SHARD_READY); when a worker is lost its shards move to the survivors, the coordinator
/// re-sends their data, and the step's missing partials are asked of the new owners. Partials
/// already in stay in: each is exact whoever computed it, and they are added in shard order.
final class WorkerPool: TimedGradientSource {
    private(set) var workers: [Worker] = []
    private(set) var lastTimings = StepTimings()
    /// Messages dropped: undecodable, from strangers, stale, duplicated or implausible.
    private(set) var rejected = 0
    private(set) var lost = 0
    private let transport: ZeroMQTransport
    private let settings: Settings
    private let layout: ParameterLayout
    /// The gradient's segments, as workers send them.
    private let segments: [Range<Int>]
    private let plan: ShardPlan
    private let log: Logger
    private let supervisor: LocalWorkers?
    private var dataset: Dataset?
    private var owner: [Int?]
    private var nextRank = 0
    private var lastBeat = ContinuousClock.now
    /// Shards on their way to their owners, a window of chunks at a time.
    private let shardSender: ShardSender
    /// Workers that registered during training and wait for shards at the next step boundary.
    private var joiners: [Worker] = []
    /// Since when the pool has had fewer than `minWorkers` workers.
    private var shortSince: ContinuousClock.Instant?

    /// The current step's state while `computePartials` runs.
    private var step = 0
    /// The step whose STEP messages are out (`beginPartials`) and whose partials are awaited.
    private var begun: BegunStep?
    private var stepWork: [Int: Core.ShardWork] = [:]
    private var requested: Set<Int> = []
    /// This step's W, b and their PARAMS, as each worker takes them.
    private var parameters: StepParameters?
    /// For arbitration: the coordinator's own view of each shard, made on first need.
    private var localShards: [Int: ShardData] = [:]
    private lazy var localWorkspace = Workspace(shape: layout.shape)
    private lazy var localGradient = ParameterBuffer(layout: layout)
    /// A 16-bit partial read back to Float32, by `verdict`, for the accumulator to add.
    private lazy var decompressed = ParameterBuffer(layout: layout)
    /// Σ of the workers' reported compute time over this step's partials.
    private var computeSeconds = 0.0
    /// The longest of them.
    private var computeSlowest = 0.0
    /// Examples each worker (by rank; −1 the coordinator) computed in this step.
    private var examplesByWorker: [Int: Int] = [:]

    var workerCount: Int { workers.count }

    init(transport: ZeroMQTransport, settings: Settings, layout: ParameterLayout, plan: ShardPlan, supervisor: LocalWorkers?, log: Logger) {
        self.transport = transport
        self.settings = settings
        self.layout = layout
        segments = layout.segments.map(\.range)
        self.plan = plan
        shardSender = ShardSender(transport: transport, plan: plan)
        // Local workers that share memory compute from the coordinator's own copy of each step's
        // PARAMS, where it lies; the others get it through the socket.
        transport.shareParameters(frameBytes: MessageCodec.paramsFrameBytes(count: layout.count))
        self.supervisor = supervisor
        self.log = log
        owner = Array(repeating: nil, count: plan.shardCount)
    }

    /// W, b kept in the parameters shared with local workers, so that a step's PARAMS is made
    /// around them without a copy; nil without shared memory.
    func parameterStorage(layout: ParameterLayout) -> (ParameterBuffer, ParameterBuffer)? {
        guard let (current, next, owner) = transport.sharedParameterStorage(count: layout.count) else { return nil }
        return (ParameterBuffer(layout: layout, placedAt: current, keptBy: owner), ParameterBuffer(layout: layout, placedAt: next, keptBy: owner))
    }

    // MARK: Start

    /// Waits for the expected workers, places the shards and sends each its data.
    func start(dataset: Dataset) throws {
        self.dataset = dataset
        let deadline = ContinuousClock.now + settings.registerTimeout
        while workers.count < settings.expectedWorkers {
            try Interruption.check()
            try supervisor?.checkRegistering()
            guard ContinuousClock.now < deadline else {
                throw CoordinatorError.notEnoughWorkers(expected: settings.expectedWorkers, arrived: workers.count, seconds: settings.registerTimeout.inSeconds)
            }
            try receiveOne(timeout: .milliseconds(200))
            workers += joiners
            joiners = []
        }
        // Shard k goes to worker ⌊k·N/K⌋: contiguous blocks, as even as the counts allow.
        for shard in 0..<plan.shardCount { assign(shard, to: workers[shard * workers.count / plan.shardCount]) }
        while let waiting = owner.indices.first(where: { !isReady($0) }) {
            try Interruption.check()
            guard ContinuousClock.now < deadline + settings.registerTimeout else {
                throw CoordinatorError.shardsNotAcknowledged([waiting])
            }
            try receiveOne(timeout: .milliseconds(200))
            try checkLiveness()
        }
        log.info("\(plan.shardCount) shard(s) placed on \(workers.count) worker(s)")
    }

    // MARK: Steps

    /// Publishes the step's parameters and sends every worker its STEP; `computePartials` then
    /// gathers the partials.
    func beginPartials(step: Int, parameters p: ParameterBuffer, work: [Core.ShardWork], into accumulator: GradientAccumulator) throws {
        var timings = StepTimings()
        let started = ContinuousClock.now
        let sharedBefore = transport.sharedBytesReceived
        self.step = step
        stepWork = Dictionary(uniqueKeysWithValues: work.map { ($0.shard, $0) })
        requested = []
        parameters = StepParameters(
            step: step, values: p,
            sharedReference: transport.publishParameters(step: UInt64(step), values: UnsafeBufferPointer(start: p.values, count: p.count)))
        admitJoiners()
        for worker in workers { timings.bytesSent += try request(from: worker, accumulator: accumulator) }
        let sent = ContinuousClock.now
        timings.send = (sent - started).inSeconds
        begun = BegunStep(step: step, sent: sent, timings: timings, sharedBytesBefore: sharedBefore)
    }

    func computePartials(step: Int, parameters p: ParameterBuffer, work: [Core.ShardWork], into accumulator: GradientAccumulator) throws {
        if begun?.step != step { try beginPartials(step: step, parameters: p, work: work, into: accumulator) }
        guard let begun else { preconditionFailure("a step begun is on record") }
        self.begun = nil
        var timings = begun.timings
        let sent = begun.sent

        var reduce = Duration.zero
        computeSeconds = 0
        computeSlowest = 0
        examplesByWorker = [:]
        while !accumulator.isComplete {
            try Interruption.check()
            try checkLiveness()
            try checkMinimum()
            let (bytes, reduced) = try receiveOne(timeout: settings.heartbeat, accumulator: accumulator)
            timings.bytesReceived += bytes
            reduce += reduced
        }
        timings.compute = computeSeconds
        timings.computeSlowest = computeSlowest
        timings.examplesByWorker = examplesByWorker
        timings.lostWorkers = lost
        timings.rejectedMessages = rejected
        timings.reduce = reduce.inSeconds
        timings.bytesReceivedShared = transport.sharedBytesReceived - begun.sharedBytesBefore
        timings.wait = (ContinuousClock.now - sent - reduce).inSeconds
        lastTimings = timings
    }

    /// Sends `worker` a STEP for its ready shards whose partials are neither in nor asked for.
    private func request(from worker: Worker, accumulator: GradientAccumulator) throws -> Int {
        let shards = worker.ready.sorted().filter { stepWork[$0] != nil && !requested.contains($0) && !accumulator.has(shard: $0) }
        guard !shards.isEmpty else { return 0 }
        let frames = MessageCodec.encode(.step(Step(step: UInt64(step), plan: shards.map { stepWork[$0]!.wire })))
        let sharedReader = readsShared(worker)
        guard let params = parameters?.frames(sharedReader: sharedReader) else { return 0 }
        do {
            try transport.send(params, to: worker.peer)
            try transport.send(frames, to: worker.peer)
        } catch {
            guard case .peerUnreachable = error else { throw error }
            try lose(worker, reason: "its connection is gone")
            return 0
        }
        requested.formUnion(shards)
        if !worker.transportLogged {
            worker.transportLogged = true
            if transport.sharesMemory(with: worker.peer) {
                log.debug("worker \(worker.rank) (\(worker.label)): large frames go through shared memory\(readsShared(worker) ? "; it computes from the shared parameters" : "")")
            }
        }
        return (params + frames).reduce(0) { $0 + $1.count }
    }

    /// Whether `worker` computes from the shared parameters (a local worker whose region was
    /// accepted, and which mapped them).
    private func readsShared(_ worker: Worker) -> Bool {
        parameters?.sharedReference != nil && transport.readsSharedParameters(worker.peer)
    }

    // MARK: Messages

    /// Waits up to `timeout` for one message and acts on it; returns bytes received and time
    /// spent adding partials.
    @discardableResult
    private func receiveOne(timeout: Duration, accumulator: GradientAccumulator? = nil) throws -> (Int, Duration) {
        pumpShards()
        // While chunks wait for room, look again soon: a worker drains its queue in milliseconds.
        let wait = shardSender.isIdle ? timeout : min(timeout, .milliseconds(2))
        guard let envelope = try transport.receive(timeoutMilliseconds: wait.inMilliseconds), let peer = envelope.peer else { return (0, .zero) }
        let bytes = envelope.frames.reduce(0) { $0 + $1.count }
        let decoded = Result { () throws(WireError) in try MessageCodec.decode(envelope) }
        guard let worker = workers.first(where: { $0.peer == peer }) ?? joiners.first(where: { $0.peer == peer }) else {
            try welcome(peer, decoded, address: envelope.address)
            return (bytes, .zero)
        }
        worker.lastHeard = .now
        switch decoded {
        case .success(.partial(let partial)):
            guard let accumulator else { rejected += 1; return (bytes, .zero) }
            switch verdict(on: partial, from: worker, accumulator: accumulator) {
            case .accept:
                break
            case .ignore(let reason):
                rejected += 1
                log.debug("ignored a partial from worker \(worker.rank) (\(worker.label)): \(reason)")
                return (bytes, .zero)
            case .poisoned(let reason):
                // A wrong partial for the worker's own shard: the coordinator computes that shard
                // itself (the same arithmetic, so the same bits an honest worker sends). If its
                // own result is finite the worker is at fault and is dropped; if not, the run has
                // diverged. Either way W, b never see the bad values.
                rejected += 1
                let before = ContinuousClock.now
                try arbitrate(shard: Int(partial.shardID), accumulator: accumulator)
                try lose(worker, reason: "it sent a bad partial: \(reason)")
                return (bytes, ContinuousClock.now - before)
            }
            let segment = Int(partial.segment)
            // The last segment's time covers the shard's whole computation; count the examples once.
            if segment == segments.count - 1 {
                let seconds = partial.computeSeconds.isFinite ? max(0, partial.computeSeconds) : 0
                computeSeconds += seconds
                computeSlowest = max(computeSlowest, seconds)
                examplesByWorker[worker.rank, default: 0] += Int(partial.exampleCount)
            }
            let before = ContinuousClock.now
            func add(_ g: UnsafePointer<Float>, keptBy owner: AnyObject?) {
                accumulator.add(
                    shard: Int(partial.shardID), segment: segment, values: g,
                    examples: Int(partial.exampleCount), correct: Int(partial.correctCount), lossSum: partial.lossSum, keptBy: owner)
            }
            switch partial.gradients {
            case .float32(let g):
                if let floats = g.receivedFloats {
                    // The frame is this process's own copy and nothing changes it: a segment that
                    // waits for its turn waits in it, kept alive by the box, instead of being copied.
                    add(floats, keptBy: FrameKeeper(g))
                } else {
                    g.withUnsafeFloats { add($0.baseAddress!, keptBy: nil) }
                }
            case .float16, .bfloat16: add(decompressed.values, keptBy: nil)
            }
            return (bytes, ContinuousClock.now - before)
        case .success(.shardReady(let ready)):
            let shard = Int(ready.shardID)
            guard shard < plan.shardCount, worker.shards.contains(shard), Int(ready.examples) == plan.ranges[shard].count else {
                rejected += 1
                return (bytes, .zero)
            }
            worker.ready.insert(shard)
            if let accumulator { _ = try request(from: worker, accumulator: accumulator) }
        case .success(.heartbeat):
            break
        case .success(.hello):
            // A registered worker saying hello again has restarted and lost what it held.
            try lose(worker, reason: "it registered again")
            try welcome(peer, decoded, address: envelope.address)
        case .success(.bye(let bye)):
            try lose(worker, reason: "it said goodbye: \(bye.reason)")
        case .success, .failure:
            rejected += 1
        }
        return (bytes, .zero)
    }

    /// A message from a peer that is not a worker: only a HELLO of our protocol version counts.
    private func welcome(_ peer: PeerID, _ decoded: Result<Message, WireError>, address: String?) throws {
        switch decoded {
        case .success(.hello(let hello)) where hello.protocolVersion == WireProtocol.protocolVersion:
            let worker = Worker(peer: peer, rank: nextRank, name: hello.name, address: address)
            nextRank += 1
            joiners.append(worker)
            try? transport.send(.welcome(Welcome(
                rank: UInt32(worker.rank), heartbeatMilliseconds: UInt32(settings.heartbeat.inMilliseconds),
                threads: UInt32(settings.threads), layers: layout.shape.layers.map(UInt32.init),
                activation: layout.shape.activation.rawValue, seed: settings.seed,
                gradientEncoding: settings.compress.encoding)), to: peer)
            log.info("worker \(worker.rank) registered: \(worker.label)")
        case .success(.hello(let hello)):
            refuse(peer, version: hello.protocolVersion, address: address)
        case .failure(.versionMismatch(_, let got)):
            refuse(peer, version: got, address: address)
        default:
            rejected += 1
        }
    }

    private func refuse(_ peer: PeerID, version: UInt16, address: String?) {
        log.warning("refused a worker\(address.map { " at \($0)" } ?? "") that speaks protocol version \(version); this coordinator speaks \(WireProtocol.protocolVersion)")
        try? transport.send(.refuse(Refuse(reason: "protocol version \(version) is not supported; the coordinator speaks version \(WireProtocol.protocolVersion)")), to: peer)
        rejected += 1
    }

    enum Verdict {
        case accept
        /// Harmless but useless: late, duplicated, or for a shard no longer this worker's.
        case ignore(String)
        /// Wrong for a shard this worker was asked for: the worker cannot be trusted.
        case poisoned(String)
    }

    /// Whether a partial may be added. A 16-bit partial is read back into `decompressed` here,
    /// where its finiteness is checked, and added from there.
    private func verdict(on partial: Partial, from worker: Worker, accumulator: GradientAccumulator) -> Verdict {
        let shard = Int(partial.shardID)
        guard partial.step == UInt64(step) else { return .ignore("it is for step \(partial.step), not \(step)") }
        guard shard < plan.shardCount, worker.shards.contains(shard), let work = stepWork[shard] else {
            return .ignore("shard \(partial.shardID) is not this worker's")
        }
        let segment = Int(partial.segment)
        guard segment < segments.count else {
            return .poisoned("segment \(partial.segment) of a gradient cut in \(segments.count)")
        }
        guard !accumulator.has(shard: shard, segment: segment) else { return .ignore("shard \(shard) segment \(segment) arrived twice") }
        guard Int(partial.exampleCount) == work.selection.count else {
            return .poisoned("shard \(shard) reports \(partial.exampleCount) examples, the step gave it \(work.selection.count)")
        }
        guard partial.encoding == settings.compress.encoding else {
            return .poisoned("gradients in \(partial.encoding), the run asked for \(settings.compress.encoding)")
        }
        guard partial.gradients.count == segments[segment].count else {
            return .poisoned("\(partial.gradients.count) gradient values in segment \(segment), which has \(segments[segment].count)")
        }
        guard partial.lossSum.isFinite, partial.lossSum >= 0 else { return .poisoned("loss sum \(partial.lossSum)") }
        let finite: Bool
        switch partial.gradients {
        case .float32(let g):
            finite = g.withUnsafeFloats { floats in floats.baseAddress.map { Finiteness.allFinite($0, count: floats.count) } ?? true }
        case .float16(let bits): finite = readBack(bits, from: .float16)
        case .bfloat16(let bits): finite = readBack(bits, from: .bfloat16)
        }
        return finite ? .accept : .poisoned("non-finite gradient values")
    }

    /// Converts 16-bit gradients into the start of `decompressed`; returns whether they are all finite.
    private func readBack(_ bits: HalfArray, from compression: GradientCompression) -> Bool {
        guard bits.count > 0 else { return true }
        bits.withUnsafeBits { compression.dequantize($0.baseAddress!, count: $0.count, into: decompressed.values) }
        return Finiteness.allFinite(decompressed.values, count: bits.count)
    }

    /// Computes `shard`'s partial in this process and adds it, or throws if it is not finite.
    private func arbitrate(shard: Int, accumulator: GradientAccumulator) throws {
        guard let dataset, let p = parameters?.values, let work = stepWork[shard] else { return }
        let data = localShards[shard] ?? ShardData(id: shard, dataset: dataset, range: plan.ranges[shard])
        localShards[shard] = data
        let evaluation = data.computePartial(p, selection: work.selection, workspace: localWorkspace, into: localGradient)
        guard evaluation.lossSum.isFinite, localGradient.isFinite else {
            throw TrainingError.diverged(step: step, loss: evaluation.lossSum / Double(max(work.selection.count, 1)))
        }
        // Segments of this shard already in came from a worker that checked out so far; only
        // the missing ones are added.
        accumulator.addMissing(
            shard: shard, gradients: localGradient.values, examples: work.selection.count,
            correct: evaluation.correct, lossSum: evaluation.lossSum)
        examplesByWorker[-1, default: 0] += work.selection.count
    }

    // MARK: Membership

    /// Joiners take shards at a step boundary: each from the worker hosting the most (if more
    /// than one), so the run grows without re-sharding.
    private func admitJoiners() {
        guard !joiners.isEmpty else { return }
        workers += joiners
        let arrived = joiners
        joiners = []
        for joiner in arrived {
            while let donor = workers.filter({ $0.shards.count > 1 }).max(by: { ($0.shards.count, $0.rank) < ($1.shards.count, $1.rank) }),
                  donor.shards.count > joiner.shards.count + 1 {
                let shard = donor.shards.max()!
                donor.shards.remove(shard)
                donor.ready.remove(shard)
                assign(shard, to: joiner)
            }
            log.info("worker \(joiner.rank) (\(joiner.label)) joined with shard(s) \(joiner.shards.sorted())")
        }
    }

    private func lose(_ worker: Worker, reason: String) throws {
        guard let index = workers.firstIndex(where: { $0 === worker }) else {
            joiners.removeAll { $0 === worker }
            return
        }
        workers.remove(at: index)
        transport.releaseSharedMemory(with: worker.peer)
        lost += 1
        let orphans = worker.shards.sorted()
        log.warning("worker \(worker.rank) (\(worker.label)) lost: \(reason); its shard(s) \(orphans) move to the survivors")
        requested.subtract(orphans)
        for shard in orphans {
            // The least loaded survivor (lowest rank on ties) adopts each orphan.
            guard let adopter = workers.min(by: { ($0.shards.count, $0.rank) < ($1.shards.count, $1.rank) }) else {
                owner[shard] = nil
                continue
            }
            assign(shard, to: adopter)
        }
    }

    /// Makes `worker` the owner of `shard` and starts sending it the shard's examples.
    private func assign(_ shard: Int, to worker: Worker) {
        owner[shard] = worker.rank
        worker.shards.insert(shard)
        shardSender.send(shard, to: worker)
        pumpShards()
    }

    /// Sends pending shard chunks while their workers' queues have room (see `ShardSender`).
    private func pumpShards() {
        guard let dataset else { return }
        shardSender.pump(
            dataset: dataset,
            stillOwned: { shard, worker in owner[shard] == worker.rank && workers.contains { $0 === worker } },
            unreachable: { worker in
                // The worker is gone; the next liveness check moves the shard on.
                worker.lastHeard = .now - settings.workerTimeout - .seconds(1)
            })
    }

    private func isReady(_ shard: Int) -> Bool {
        guard let rank = owner[shard] else { return false }
        return workers.first { $0.rank == rank }?.ready.contains(shard) ?? false
    }

    /// Beats to every worker when a beat is due; loses workers that are silent past the timeout
    /// or whose local process has exited.
    private func checkLiveness() throws {
        let now = ContinuousClock.now
        if now - lastBeat >= settings.heartbeat {
            for worker in workers + joiners { try? transport.send(.heartbeat(Heartbeat(step: UInt64(step))), to: worker.peer) }
            lastBeat = now
        }
        let exited = supervisor?.exitedNames() ?? []
        for worker in workers + joiners {
            if exited.contains(worker.name) {
                try lose(worker, reason: "its process exited")
            } else if now - worker.lastHeard > settings.workerTimeout {
                try lose(worker, reason: "silent for more than \(settings.workerTimeout.inSeconds) s")
            }
        }
    }

    /// Below `--min-workers` the pool waits for joiners up to the register timeout, then gives up.
    private func checkMinimum() throws {
        if owner.contains(where: { $0 == nil }) {
            // Every worker was lost: whoever has joined since adopts the orphans now.
            workers += joiners
            joiners = []
            for shard in owner.indices where owner[shard] == nil {
                guard let adopter = workers.min(by: { ($0.shards.count, $0.rank) < ($1.shards.count, $1.rank) }) else { break }
                assign(shard, to: adopter)
            }
        }
        guard workers.count < settings.minWorkers else {
            shortSince = nil
            return
        }
        let since = shortSince ?? .now
        shortSince = since
        if ContinuousClock.now - since > settings.registerTimeout {
            throw CoordinatorError.tooFewWorkers(alive: workers.count, minimum: settings.minWorkers, seconds: settings.registerTimeout.inSeconds)
        }
    }

    /// Says goodbye — except, when the run is resumable, to workers that connected themselves:
    /// they keep knocking (up to their --reconnect-timeout) and rejoin the restarted coordinator.
    func shutdown(reason: String, resumable: Bool) {
        if supervisor != nil || !resumable {
            for worker in workers + joiners { try? transport.send(.bye(Bye(reason: reason)), to: worker.peer) }
        }
        transport.close()
    }
}
