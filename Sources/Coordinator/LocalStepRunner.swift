import CSharedMemory
import Core
import Foundation
import Logging
import Wire

/// The coordinator's side of steps its local workers take among themselves (issue 24; docs/
/// ARCHITECTURE.md, decision 11), beside the `WorkerPool` that hands them steps one at a time.
///
/// For a span of steps it writes W, b and the optimizer's moments into a step area it owns (a
/// memory file each local worker maps), sends each worker one LOCAL_STEPS, and waits: the workers
/// compute their shards, add and update a range of the parameters each, and pass barriers in the
/// area, with no message until the span is over. Meanwhile the coordinator serves heartbeats and
/// watches the processes. When every worker has given back its moments it takes the span's
/// records, W, b and moments: the trainer then reports the span's steps. A worker lost or stalled
/// (no step done for `--worker-timeout`), one that gives the span up, or a value not finite ends
/// the span with nothing taken: the trainer takes its steps again through the pool, and the run
/// continues there (the same bits on either path). SIGINT asks the workers to stop after the step
/// under way, and the steps done until then count.
final class LocalStepRunner: StepRunner {
    private let pool: WorkerPool
    private let options: TrainingOptions
    private let exampleCount: Int
    private let layout: ParameterLayout
    private let log: Logger
    private var area: StepArea?
    /// The span whose records went to the trainer, until it is finished: its workers, its first
    /// step (after that many committed) and its last step done.
    private var pending: (workers: [PoolWorker], step: Int, done: Int)?
    /// Set once a span has failed: the rest of the run goes through the pool.
    private(set) var stopped = false
    /// Spans taken, for the logs and tests.
    private(set) var spans = 0

    init(pool: WorkerPool, options: TrainingOptions, exampleCount: Int, log: Logger) {
        self.pool = pool
        self.options = options
        self.exampleCount = exampleCount
        layout = ParameterLayout(shape: options.shape)
        self.log = log
    }

    func runSteps(after step: Int, through last: Int, parameters: ParameterBuffer, optimizer: Optimizer) throws
        -> [StepRecord]
    {
        guard !stopped, let workers = pool.localParties(), !workers.isEmpty else { return [] }
        let area = try stepArea(parties: workers.count)
        area.parameters(step % 2).update(from: parameters.values, count: layout.count)
        for (i, moment) in [optimizer.firstMoment, optimizer.secondMoment].enumerated() {
            if let moment { area.moment(i).update(from: moment.values, count: layout.count) }
        }
        area.reset(after: step)
        do {
            for (party, worker) in workers.enumerated() {
                let steps = message(
                    area, step: step, last: last, party: party, parties: workers.count, worker: worker,
                    updates: optimizer.updates)
                try pool.outbox.send(.localSteps(steps), to: worker.peer)
            }
        } catch {
            log.info("a local worker cannot be reached: \(error)")
            stop(area, parties: workers.count, step: step)
            return []
        }
        guard let done = try wait(area, parties: workers.count, from: step) else {
            stop(area, parties: workers.count, step: step)
            return []
        }
        pending = (workers, step, done)
        return (step..<done).map { t in
            let record = area.record(step: t)
            return StepRecord(
                statistics: .init(examples: Int(record[0]), correct: Int(record[1]), lossSum: record[2]),
                seconds: record[3], compute: record[4], computeSlowest: record[5], update: record[6])
        }
    }

    /// Takes the span's W, b and moments when the trainer accepted its records and every value is
    /// finite (as the trainer checks an update); gives the span up otherwise. Each worker's speed
    /// over the span then counts, as its partials would have: a shard may move to a faster
    /// worker, through messages, before the next span.
    func finish(accepted: Bool, into parameters: ParameterBuffer, optimizer: Optimizer) -> Bool {
        guard let (workers, step, done) = pending, let area else { return false }
        pending = nil
        let slots = [area.parameters(done % 2), area.moment(0), area.moment(1)]
        guard accepted, slots.allSatisfy({ Finiteness.allFinite($0, count: layout.count) }) else {
            log.warning("the local workers' steps \(step + 1)…\(done) do not hold (records or values): given up")
            stop(area, parties: workers.count, step: step)
            return false
        }
        parameters.values.update(from: slots[0], count: layout.count)
        for (i, moment) in [optimizer.firstMoment, optimizer.secondMoment].enumerated() {
            moment?.values.update(from: slots[1 + i], count: layout.count)
        }
        optimizer.updates += done - step
        spans += 1
        for (party, worker) in workers.enumerated() {
            let totals = area.spanCompute(party)
            worker.recordCompute(seconds: totals[0], examples: Int(totals[1]))
        }
        pool.membership.startMove()
        return true
    }

    /// The step area, made for `parties` processes at the first span (and again if they change).
    private func stepArea(parties: Int) throws -> StepArea {
        if let area, area.parties == parties { return area }
        let made = try StepArea.create(parameterCount: layout.count, shards: options.shards, parties: parties)
        area = made
        log.info("local workers step among themselves in shared memory (\(parties) of them)")
        return made
    }

    private func message(
        _ area: StepArea, step: Int, last: Int, party: Int, parties: Int, worker: PoolWorker, updates: Int
    ) -> LocalSteps {
        LocalSteps(
            step: UInt64(step), last: UInt64(last), pid: getpid(), fd: area.fileDescriptor, party: UInt32(party),
            parties: UInt32(parties), shards: worker.shards.sorted().map(UInt32.init),
            shardCount: UInt32(options.shards),
            exampleCount: UInt64(exampleCount), batch: UInt32(options.batch), seed: options.seed,
            learningRate: options.learningRate, schedule: options.schedule, optimizer: options.optimizer,
            updates: UInt64(updates), timeoutMilliseconds: UInt32(clamping: pool.settings.workerTimeout.inMilliseconds))
    }

    /// Waits for the span: the last step done once every worker has given back its moments, or
    /// nil when it failed (a worker gave it up, was lost, or did no step for `--worker-timeout`).
    private func wait(_ area: StepArea, parties: Int, from step: Int) throws -> Int? {
        var progress = (done: step, at: ContinuousClock.now)
        var asked = false
        let lost = pool.membership.lost
        while descent_load_acquire_u64(area.finished) < UInt64(parties) {
            if descent_load_acquire_u64(area.failed) > 0 { return nil }
            let done = Int(descent_load_acquire_u64(area.done))
            if done > progress.done { progress = (done, .now) }
            if ContinuousClock.now - progress.at > pool.settings.workerTimeout {
                log.warning("no local step done for \(pool.settings.workerTimeout.inSeconds) s: the span is given up")
                return nil
            }
            if Interruption.received, !asked {
                descent_store_release_u64(area.stopRequest, 1)
                asked = true
            }
            try pool.receiveOne(timeout: .milliseconds(5))
            pool.membership.checkLiveness(step: done)
            guard pool.membership.lost == lost else { return nil }
        }
        return Int(descent_load_acquire_u64(area.done))
    }

    /// After a failed span: abandons the area, waits (up to 2 s) for the workers that live to leave
    /// it, and sends the rest of the run through the pool.
    private func stop(_ area: StepArea, parties: Int, step: Int) {
        descent_barrier_abandon(area.barrier, area.abandon)
        let deadline = ContinuousClock.now + .seconds(2)
        while descent_load_acquire_u64(area.finished) + descent_load_acquire_u64(area.failed) < UInt64(parties),
            ContinuousClock.now < deadline
        {
            try? pool.receiveOne(timeout: .milliseconds(5))
        }
        stopped = true
        self.area = nil
        log.notice("the local workers' steps from step \(step + 1) are taken again one at a time through messages")
    }
}
