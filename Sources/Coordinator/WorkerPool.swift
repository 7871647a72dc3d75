import Core
import Foundation
import Logging
import Wire

/// The coordinator's side of the workers: registration, shard placement, and each step's
/// broadcast and gathering of partials. A `GradientSource`, so the trainer cannot tell it from
/// the in-process reference — and the bits agree.
final class WorkerPool: TimedGradientSource {
    struct Settings {
        var expectedWorkers: Int
        var registerTimeout: Duration
        var workerTimeout: Duration
        var heartbeat: Duration = .milliseconds(500)  // 3–5 missed beats declare a worker lost
        var threads: Int
        var seed: UInt64
    }

    final class Worker {
        let peer: PeerID
        let rank: Int
        let name: String
        var shards: [Int] = []
        var lastHeard = ContinuousClock.now

        init(peer: PeerID, rank: Int, name: String) {
            self.peer = peer
            self.rank = rank
            self.name = name
        }
    }

    private(set) var workers: [Worker] = []
    private(set) var lastTimings = StepTimings()
    /// Messages dropped: undecodable, from strangers, stale, duplicated or implausible.
    private(set) var rejected = 0
    private let transport: ZeroMQTransport
    private let settings: Settings
    private let layout: ParameterLayout
    private let plan: ShardPlan
    private let log: Logger
    private let supervisor: LocalWorkers?
    private var shardOwner: [Int] = []
    private var lastBeat = ContinuousClock.now

    var workerCount: Int { workers.count }

    init(transport: ZeroMQTransport, settings: Settings, layout: ParameterLayout, plan: ShardPlan, supervisor: LocalWorkers?, log: Logger) {
        self.transport = transport
        self.settings = settings
        self.layout = layout
        self.plan = plan
        self.supervisor = supervisor
        self.log = log
    }

    // MARK: Registration and shards

    /// Waits for the expected workers, then places the shards and sends each its data.
    func start(dataset: Dataset) throws {
        try register()
        place()
        try sendShards(dataset)
    }

    private func register() throws {
        let deadline = ContinuousClock.now + settings.registerTimeout
        while workers.count < settings.expectedWorkers {
            try Interruption.check()
            try supervisor?.checkAlive()
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw CoordinatorError.notEnoughWorkers(expected: settings.expectedWorkers, arrived: workers.count, seconds: settings.registerTimeout.inSeconds)
            }
            guard let (peer, result) = try transport.receiveMessage(timeoutMilliseconds: min(left.inMilliseconds, 200)), let peer else { continue }
            switch result {
            case .success(.hello(let hello)):
                guard workers.first(where: { $0.peer == peer }) == nil else { continue }
                let worker = Worker(peer: peer, rank: workers.count, name: hello.name)
                workers.append(worker)
                try transport.send(.welcome(Welcome(
                    rank: UInt32(worker.rank), heartbeatMilliseconds: UInt32(settings.heartbeat.inMilliseconds),
                    threads: UInt32(settings.threads), layers: layout.shape.layers.map(UInt32.init),
                    activation: layout.shape.activation.rawValue, seed: settings.seed)), to: peer)
                log.info("worker \(worker.rank) registered: \(hello.name)")
            case .failure(.versionMismatch(let expected, let got)):
                log.warning("refused a worker that speaks protocol version \(got); this coordinator speaks \(expected)")
                try? transport.send(.refuse(Refuse(reason: "protocol version \(got) is not supported; the coordinator speaks version \(expected)")), to: peer)
                rejected += 1
            case .success, .failure:
                rejected += 1
            }
        }
    }

    /// Shard k goes to worker ⌊k·N/K⌋: contiguous blocks, as even as the counts allow.
    private func place() {
        let n = workers.count, k = plan.shardCount
        shardOwner = (0..<k).map { $0 * n / k }
        for (shard, owner) in shardOwner.enumerated() { workers[owner].shards.append(shard) }
    }

    private func sendShards(_ dataset: Dataset) throws {
        let n0 = dataset.featureCount
        let perChunk = max(1, (WireProtocol.maxFramePayload - 256) / (n0 * 4 + 4))
        var outstanding = Set<Int>()
        for (shard, range) in plan.ranges.enumerated() {
            let peer = workers[shardOwner[shard]].peer
            var first = 0
            while first < range.count {
                try Interruption.check()
                let m = min(perChunk, range.count - first)
                let start = range.lowerBound + first
                let values = Array(UnsafeBufferPointer(start: dataset.features.storage + start * n0, count: m * n0))
                try transport.send(.shard(ShardChunk(
                    shardID: UInt32(shard), shardCount: UInt32(plan.shardCount), features: UInt32(n0),
                    shardExamples: UInt32(range.count), firstExample: UInt32(first),
                    labels: Array(dataset.labels[start..<start + m]), values: values)), to: peer)
                first += m
            }
            outstanding.insert(shard)
        }
        let deadline = ContinuousClock.now + settings.registerTimeout
        while !outstanding.isEmpty {
            try Interruption.check()
            try supervisor?.checkAlive()
            guard ContinuousClock.now < deadline else {
                throw CoordinatorError.shardsNotAcknowledged(outstanding.sorted())
            }
            guard let (peer, result) = try transport.receiveMessage(timeoutMilliseconds: 200), let peer else { continue }
            guard let worker = workers.first(where: { $0.peer == peer }) else { rejected += 1; continue }
            worker.lastHeard = .now
            if case .success(.shardReady(let ready)) = result, Int(ready.shardID) < plan.shardCount,
               shardOwner[Int(ready.shardID)] == worker.rank,
               Int(ready.examples) == plan.ranges[Int(ready.shardID)].count {
                outstanding.remove(Int(ready.shardID))
            } else if case .success(.heartbeat) = result {
                continue
            } else {
                rejected += 1
            }
        }
        log.info("\(plan.shardCount) shard(s) placed on \(workers.count) worker(s)")
    }

    // MARK: Steps

    func computePartials(step: Int, parameters p: ParameterBuffer, work: [Core.ShardWork], into accumulator: GradientAccumulator) throws {
        var timings = StepTimings()
        let started = ContinuousClock.now
        let parameters = p.array
        var expected: [Int: Int] = [:]
        for item in work { expected[item.shard] = item.selection.count }
        for worker in workers {
            let plan = work.filter { shardOwner[$0.shard] == worker.rank }.map(\.wire)
            guard !plan.isEmpty else { continue }
            let frames = MessageCodec.encode(.step(Step(step: UInt64(step), parameters: parameters, plan: plan)))
            try transport.send(frames, to: worker.peer)
            timings.bytesSent += frames.reduce(0) { $0 + $1.count }
        }
        let sent = ContinuousClock.now
        timings.send = (sent - started).inSeconds

        var reduce = Duration.zero
        while !accumulator.isComplete {
            try Interruption.check()
            try checkLiveness(step: step)
            guard let envelope = try transport.receive(timeoutMilliseconds: settings.heartbeat.inMilliseconds) else { continue }
            guard let peer = envelope.peer, let worker = workers.first(where: { $0.peer == peer }) else { rejected += 1; continue }
            worker.lastHeard = .now
            timings.bytesReceived += envelope.frames.reduce(0) { $0 + $1.count }
            let message: Message
            do { message = try MessageCodec.decode(envelope.frames) } catch { rejected += 1; continue }
            switch message {
            case .partial(let partial):
                guard let reason = problem(with: partial, from: worker, step: step, expected: expected, accumulator: accumulator) else {
                    let before = ContinuousClock.now
                    partial.gradients.withUnsafeBufferPointer { g in
                        accumulator.add(
                            shard: Int(partial.shardID), gradients: g.baseAddress!, examples: Int(partial.exampleCount),
                            correct: Int(partial.correctCount), lossSum: partial.lossSum)
                    }
                    reduce += ContinuousClock.now - before
                    continue
                }
                rejected += 1
                log.warning("dropped a partial from worker \(worker.rank): \(reason)")
            case .heartbeat:
                continue
            default:
                rejected += 1
            }
        }
        let finished = ContinuousClock.now
        timings.reduce = reduce.inSeconds
        timings.wait = (finished - sent - reduce).inSeconds
        lastTimings = timings
    }

    /// Why a partial must not be added, or nil when it may.
    private func problem(with partial: Partial, from worker: Worker, step: Int, expected: [Int: Int], accumulator: GradientAccumulator) -> String? {
        let shard = Int(partial.shardID)
        guard partial.step == UInt64(step) else { return "it is for step \(partial.step), not \(step)" }
        guard shard < plan.shardCount, shardOwner[shard] == worker.rank, let count = expected[shard] else {
            return "shard \(partial.shardID) is not this worker's"
        }
        guard !accumulator.has(shard: shard) else { return "shard \(shard) arrived twice" }
        guard Int(partial.exampleCount) == count else { return "shard \(shard) reports \(partial.exampleCount) examples, the step gave it \(count)" }
        guard partial.correctCount <= partial.exampleCount else { return "more correct answers than examples" }
        guard partial.gradients.count == layout.count else { return "\(partial.gradients.count) gradient values, the network has \(layout.count)" }
        guard partial.lossSum.isFinite, partial.lossSum >= 0 else { return "loss sum \(partial.lossSum)" }
        guard partial.gradients.allSatisfy(\.isFinite) else { return "non-finite gradient values" }
        return nil
    }

    /// Beats to every worker when a beat is due, then fails on a worker silent past the timeout.
    private func checkLiveness(step: Int) throws {
        try supervisor?.checkAlive()
        let now = ContinuousClock.now
        if now - lastBeat >= settings.heartbeat {
            for worker in workers { try? transport.send(.heartbeat(Heartbeat(step: UInt64(step))), to: worker.peer) }
            lastBeat = now
        }
        for worker in workers where now - worker.lastHeard > settings.workerTimeout {
            throw CoordinatorError.workerLost(rank: worker.rank, name: worker.name, seconds: settings.workerTimeout.inSeconds, step: step)
        }
    }

    func shutdown(reason: String) {
        for worker in workers { try? transport.send(.bye(Bye(reason: reason)), to: worker.peer) }
        transport.close()
    }
}

extension Core.ShardWork {
    /// The same work in the wire's terms.
    var wire: Wire.ShardWork {
        switch selection {
        case .range(let r):
            return Wire.ShardWork(shardID: UInt32(shard), examples: .range(start: UInt32(r.lowerBound), count: UInt32(r.count)))
        case .list(let indices):
            return Wire.ShardWork(shardID: UInt32(shard), examples: .list(indices.map { UInt32(bitPattern: $0) }))
        }
    }
}
