import Core
import Logging
import Wire

/// Who computes: the registered workers and the joiners, their ranks, which shard each hosts,
/// and how that changes as workers come and go.
///
/// Every shard has one owner, and is computed only once its owner has confirmed holding its data
/// (SHARD_READY). A lost worker's shards move to the least loaded survivors, which are sent the
/// shards' data; a joiner takes shards from the most loaded at a step boundary.
final class Membership {
    /// Workers hosting shards, in rank order.
    private(set) var workers: [PoolWorker] = []
    /// Workers that registered and wait for shards at the next step boundary.
    private(set) var joiners: [PoolWorker] = []
    /// Each shard's owner, by rank; nil while every worker is lost.
    private(set) var owner: [Int?]
    /// Workers lost since the run began.
    private(set) var lost = 0
    /// Workers lost so far, told goodbye at the end too: one that comes back to life later learns
    /// that the run is over rather than waiting out its reconnect timeout.
    private var lostPeers: Set<PeerID> = []
    /// The profiles of the workers admitted so far, for the fix a refusal suggests.
    private var admitted: [ArithmeticProfile] = []
    /// Workers admitted under `--allow-mixed-arithmetic` that do not compute as the run does.
    private(set) var mixedArithmetic: [String] = []
    private let settings: PoolSettings
    private let shape: NetworkShape
    private let plan: ShardPlan
    private let outbox: WorkerOutbox
    /// Shards on their way to their owners, a window of chunks at a time.
    private let shardSender: ShardSender
    private let supervisor: LocalWorkers?
    private let log: Logger
    private var dataset: Dataset?
    /// Every rank given so far, lost workers' too: a rank names one process for the whole run.
    private var takenRanks: Set<Int> = []
    private var lastBeat = ContinuousClock.now
    /// Since when there have been fewer than `minWorkers` workers.
    private var shortSince: ContinuousClock.Instant?

    init(
        settings: PoolSettings, shape: NetworkShape, plan: ShardPlan, outbox: WorkerOutbox,
        supervisor: LocalWorkers?, log: Logger
    ) {
        self.settings = settings
        self.shape = shape
        self.plan = plan
        self.outbox = outbox
        shardSender = ShardSender(workerOutbox: outbox, plan: plan)
        self.supervisor = supervisor
        self.log = log
        owner = Array(repeating: nil, count: plan.shardCount)
    }

    /// The worker or joiner that `peer` is; nil for a stranger.
    func worker(for peer: PeerID) -> PoolWorker? {
        workers.first { $0.peer == peer } ?? joiners.first { $0.peer == peer }
    }

    // MARK: Registration

    /// Answers a message from a peer that is not a worker: only a HELLO of our protocol version
    /// from a worker that computes as the run does counts, and makes it a joiner. Returns whether
    /// it was welcomed.
    func register(_ peer: PeerID, _ message: Result<Message, WireError>, address: String?) -> Bool {
        switch message {
        case .success(.hello(let hello)) where hello.protocolVersion == WireProtocol.protocolVersion:
            guard let kernel = admit(hello, peer: peer, address: address) else { return false }
            let worker = PoolWorker(
                peer: peer, rank: rank(for: hello.name), name: hello.name, address: address,
                relayEndpoint: hello.relayEndpoint)
            takenRanks.insert(worker.rank)
            joiners.append(worker)
            admitted.append(hello.profile)
            try? outbox.send(.welcome(welcome(rank: worker.rank, kernel: kernel)), to: peer)
            var profile = hello.profile
            (profile.kernel, profile.threads) = (kernel, settings.threads)
            log.info("worker \(worker.rank) registered: \(worker.label); \(profile.summary)")
            return true
        case .success(.hello(let hello)):
            refuse(peer, version: hello.protocolVersion, address: address)
        case .failure(.versionMismatch(_, let got)):
            refuse(peer, version: got, address: address)
        default:
            break
        }
        return false
    }

    /// The rank a worker registering as `name` takes: its index in `PoolSettings.rankedNames`
    /// while that is free, otherwise the lowest rank never given.
    private func rank(for name: String) -> Int {
        if let k = settings.rankedNames.firstIndex(of: name), !takenRanks.contains(k) { return k }
        return (0...).first { !takenRanks.contains($0) }!
    }

    /// The kernel `hello`'s worker will compute with; nil when it is refused, or asked to switch
    /// to the run's kernel and say hello again.
    private func admit(_ hello: Hello, peer: PeerID, address: String?) -> String? {
        let run = settings.arithmetic
        let at = address.map { " at \($0)" } ?? ""
        switch Admission.decide(hello.profile, run: run, admitted: admitted) {
        case .admit:
            return run.kernel
        case .align(let kernel):
            log.info(
                "worker \(hello.name)\(at) computes with BLAS kernel \(hello.profile.kernel): asked to switch to \(kernel)"
            )
            let reason = "the run computes with BLAS kernel \(kernel); switch to it and register again"
            try? outbox.send(.refuse(Refuse(reason: reason, kernel: kernel)), to: peer)
            return nil
        case .admitMixed(let problem):
            mixedArithmetic.append(hello.name)
            log.warning(
                "admitted worker \(hello.name)\(at) under --allow-mixed-arithmetic although \(problem): this run is not bit-reproducible"
            )
            return hello.profile.kernel
        case .refuse(let problem, let fix):
            let reason =
                "\(problem). Worker: \(hello.profile.summary). Run: \(run.profile.summary). Fix: \(fix)"
            log.error("refused worker \(hello.name)\(at): \(reason)")
            try? outbox.send(.refuse(Refuse(reason: reason)), to: peer)
            return nil
        }
    }

    private func welcome(rank: Int, kernel: String) -> Welcome {
        Welcome(
            rank: UInt32(rank), heartbeatMilliseconds: UInt32(settings.heartbeat.inMilliseconds),
            threads: UInt32(settings.threads), layers: shape.layers.map(UInt32.init),
            activation: shape.activation.rawValue, seed: settings.seed, gradientEncoding: settings.compress,
            blasKernel: kernel)
    }

    private func refuse(_ peer: PeerID, version: UInt16, address: String?) {
        let ours = WireProtocol.protocolVersion
        let at = address.map { " at \($0)" } ?? ""
        log.warning("refused a worker\(at) that speaks protocol version \(version); this coordinator speaks \(ours)")
        let reason = "protocol version \(version) is not supported; the coordinator speaks version \(ours)"
        try? outbox.send(.refuse(Refuse(reason: reason)), to: peer)
    }

    /// Joiners become workers at once: while the run waits for its first workers.
    func promoteJoiners() {
        workers = (workers + joiners).sorted { $0.rank < $1.rank }
        joiners = []
    }

    /// Says whom the run still waits for, and whom it has.
    func logWaiting(until deadline: ContinuousClock.Instant) {
        let missing = settings.expectedWorkers - workers.count
        let here =
            workers.isEmpty ? "none yet" : workers.map { "worker \($0.rank) (\($0.label))" }.joined(separator: ", ")
        let left = Int(max(0, (deadline - .now).inSeconds).rounded())
        log.notice(
            "waiting for \(missing) more worker(s) of \(settings.expectedWorkers) to register; registered: \(here); --register-timeout ends the wait in \(left) s"
        )
    }

    /// Throws if a local worker has exited before registering.
    func checkRegistering() throws {
        try supervisor?.checkRegistering()
    }

    // MARK: Placement

    /// Places every shard of `dataset` on the workers in contiguous blocks, and starts sending
    /// each its shards.
    func place(_ dataset: Dataset) {
        self.dataset = dataset
        for (shard, index) in Placement.initialBlocks(shardCount: plan.shardCount, workerCount: workers.count)
            .enumerated()
        {
            assign(shard, to: workers[index])
        }
    }

    /// The first shard whose owner has not confirmed holding it; nil when all have.
    var firstUnready: Int? {
        owner.indices.first { shard in
            guard let rank = owner[shard] else { return true }
            return !(workers.first { $0.rank == rank }?.ready.contains(shard) ?? false)
        }
    }

    /// Takes `worker`'s SHARD_READY for shard `shardID` of `examples` examples; false if it does
    /// not host that shard, or the count is not the shard's.
    func markReady(shardID: UInt32, examples: UInt32, by worker: PoolWorker) -> Bool {
        let shard = Int(shardID)
        guard shard < plan.shardCount, worker.shards.contains(shard) || worker.incoming.contains(shard),
            Int(examples) == plan.ranges[shard].count
        else {
            return false
        }
        worker.ready.insert(shard)
        return true
    }

    /// Joiners take shards at a step boundary: from the workers hosting the most, so the run
    /// grows without re-sharding (`Placement.donations`).
    func admitJoiners() {
        guard !joiners.isEmpty else { return }
        workers = (workers + joiners).sorted { $0.rank < $1.rank }
        let arrived = joiners
        joiners = []
        for joiner in arrived {
            let holdings = Dictionary(uniqueKeysWithValues: workers.map { ($0.rank, $0.shards) })
            for (shard, rank) in Placement.donations(to: joiner.rank, holdings: holdings) {
                guard let donor = workers.first(where: { $0.rank == rank }) else { continue }
                donor.shards.remove(shard)
                donor.ready.remove(shard)
                assign(shard, to: joiner)
            }
            log.info("worker \(joiner.rank) (\(joiner.label)) joined with shard(s) \(joiner.shards.sorted())")
        }
    }

    // MARK: Placement by speed

    /// Shards moved to a faster worker since the run began.
    private(set) var moves = 0

    /// Starts the move that most shortens the step (`Placement.rebalance`): the faster worker is
    /// sent the shard while the slower one goes on computing it; `completeMoves` hands it over.
    func startMove() {
        // A 16-bit run's error feedback lives with the worker that computes a shard: a move would
        // change the bits (as a lost worker does), so shards move by speed only in Float32 runs.
        guard settings.compress == .float32 else { return }
        guard workers.allSatisfy({ $0.incoming.isEmpty }), firstUnready == nil else { return }
        let holdings = Dictionary(uniqueKeysWithValues: workers.map { ($0.rank, $0.shards) })
        let speeds = workers.reduce(into: [Int: Double]()) { $0[$1.rank] = $1.examplesPerSecond }
        guard let move = Placement.rebalance(holdings: holdings, sizes: plan.ranges.map(\.count), speeds: speeds),
            let target = workers.first(where: { $0.rank == move.to })
        else { return }
        let (before, after) = (move.slowestBefore * 1000, move.slowestAfter * 1000)
        log.info(
            """
            shard \(move.shard) moves from worker \(move.from) to worker \(move.to) (\(target.label)), by measured \
            speed: the slowest share of a step \(String(format: "%.2f", before)) → \(String(format: "%.2f", after)) ms
            """)
        target.incoming.insert(move.shard)
        shardSender.send(move.shard, to: target)
        pumpShards()
    }

    /// At a step boundary: a shard now held by the worker it was moving to is computed there.
    func completeMoves() {
        for target in workers {
            for shard in target.incoming.sorted() where target.ready.contains(shard) {
                target.incoming.remove(shard)
                guard let rank = owner[shard], rank != target.rank else { continue }
                if let source = workers.first(where: { $0.rank == rank }) {
                    source.shards.remove(shard)
                    source.ready.remove(shard)
                }
                owner[shard] = target.rank
                target.shards.insert(shard)
                moves += 1
                log.info("shard \(shard) is computed by worker \(target.rank) (\(target.label)) from now on")
            }
        }
    }

    /// Drops `worker`; its shards move to the least loaded survivors.
    func lose(_ worker: PoolWorker, reason: String) {
        guard let index = workers.firstIndex(where: { $0 === worker }) else {
            joiners.removeAll { $0 === worker }
            return
        }
        workers.remove(at: index)
        outbox.forget(worker.peer)
        lost += 1
        lostPeers.insert(worker.peer)
        let orphans = worker.shards.sorted()
        log.warning(
            "worker \(worker.rank) (\(worker.label)) lost: \(reason); its shard(s) \(orphans) move to the survivors")
        for shard in orphans {
            guard let adopter = leastLoaded() else {
                owner[shard] = nil
                continue
            }
            assign(shard, to: adopter)
        }
    }

    private func leastLoaded() -> PoolWorker? {
        let loads = Dictionary(uniqueKeysWithValues: workers.map { ($0.rank, $0.shards.count) })
        let rank = Placement.adopter(loads: loads)
        return workers.first { $0.rank == rank }
    }

    /// Makes `worker` the owner of `shard` and starts sending it the shard's examples.
    private func assign(_ shard: Int, to worker: PoolWorker) {
        owner[shard] = worker.rank
        worker.incoming.remove(shard)
        worker.shards.insert(shard)
        shardSender.send(shard, to: worker)
        pumpShards()
    }

    /// Whether shard data still waits for room in a worker's queue.
    var isSendingShards: Bool { !shardSender.isIdle }

    /// Sends pending shard chunks while their workers' queues have room (see `ShardSender`).
    func pumpShards() {
        guard let dataset else { return }
        shardSender.pump(
            dataset: dataset,
            stillOwned: { shard, worker in
                (owner[shard] == worker.rank || worker.incoming.contains(shard)) && workers.contains { $0 === worker }
            },
            unreachable: { worker in
                // The worker is gone; the next liveness check moves the shard on.
                worker.lastHeard = .now - settings.workerTimeout - .seconds(1)
            })
    }

    // MARK: Liveness

    /// Beats to every worker when a beat is due (in `step`); loses workers that are silent past
    /// the timeout or whose local process has exited.
    func checkLiveness(step: Int) {
        let now = ContinuousClock.now
        if now - lastBeat >= settings.heartbeat {
            let beat = Message.heartbeat(Heartbeat(step: UInt64(step)))
            for worker in workers + joiners { try? outbox.send(beat, to: worker.peer) }
            lastBeat = now
        }
        let exited = supervisor?.exitedNames() ?? []
        for worker in workers + joiners {
            if exited.contains(worker.name) {
                lose(worker, reason: "its process exited")
            } else if now - worker.lastHeard > settings.workerTimeout {
                lose(worker, reason: "silent for more than \(settings.workerTimeout.inSeconds) s")
            }
        }
    }

    /// Below `--min-workers` the pool waits for joiners up to the register timeout, then gives up.
    func checkMinimum() throws {
        if owner.contains(where: { $0 == nil }) {
            // Every worker was lost: whoever has joined since adopts the orphans now.
            promoteJoiners()
            for shard in owner.indices where owner[shard] == nil {
                guard let adopter = leastLoaded() else { break }
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
            throw CoordinatorError.tooFewWorkers(
                alive: workers.count, minimum: settings.minWorkers, seconds: settings.registerTimeout.inSeconds)
        }
    }

    /// Says goodbye — except, when the run is resumable, to workers that connected themselves:
    /// they keep knocking (up to their --reconnect-timeout) and rejoin the restarted coordinator.
    func sayGoodbye(reason: String, resumable: Bool) {
        guard supervisor != nil || !resumable else { return }
        let present = (workers + joiners).map(\.peer)
        for peer in present + lostPeers.subtracting(present) {
            try? outbox.send(.bye(Bye(reason: reason)), to: peer)
        }
    }
}
