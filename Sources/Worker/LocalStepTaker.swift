import CSharedMemory
import Core
import Logging
import Wire

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A local worker's part of LOCAL_STEPS (issue 24): the steps of a span taken with the other local
/// workers in the coordinator's step area, by `RangeStepper` — its shards' partials, its range's
/// sum and update — with the barriers in shared memory and no message until the span is over.
///
/// Process 0 also writes each step's record (the trainer's sums, its time) and the step done, and
/// decides, when the coordinator asks for a stop, the step every process stops after. A barrier
/// that times out or is abandoned ends the span here; the coordinator then takes its steps again
/// through messages, so nothing of it counts.
final class LocalStepTaker {
    private let log: Logger
    /// Milliseconds each step of a span is held back, by this worker's rank (`DESCENT_FAULTS`'s
    /// `delay`, for tests that must strike in the middle of a run).
    private let delay: (Int) -> Int
    /// The area and the stepper of the last span, kept while the next one is like it.
    private var area: (key: [Int], area: StepArea)?
    private var stepper: (key: String, stepper: RangeStepper)?

    init(delay: @escaping (Int) -> Int = { _ in 0 }, log: Logger) {
        self.delay = delay
        self.log = log
    }

    /// Takes the span `steps` asks for, from `session`'s shards; `parentPID` is the coordinator
    /// that started this worker, the only one whose area it maps.
    func take(_ steps: LocalSteps, session: WorkerSession, parentPID: Int32?) {
        guard let parentPID, steps.pid == parentPID else {
            log.warning(
                "ignored LOCAL_STEPS from pid \(steps.pid): only the coordinator that started this worker sends it")
            return
        }
        let area: StepArea
        do {
            area = try mappedArea(steps, layout: session.layout)
        } catch {
            // The coordinator hears nothing of this span and gives it up at its timeout.
            log.warning("steps \(steps.step + 1)…\(steps.last): the step area cannot be mapped: \(error)")
            return
        }
        do {
            let stepper = try makeStepper(steps, session: session, area: area)
            stepper.begin(updates: Int(steps.updates), first: area.moment(0), second: area.moment(1))
            try run(steps, stepper: stepper, area: area, delay: delay(session.rank))
            stepper.end(first: area.moment(0), second: area.moment(1))
            _ = descent_add_u64(area.finished, 1)
        } catch {
            _ = descent_add_u64(area.failed, 1)
            log.info("steps \(steps.step + 1)…\(steps.last) given up: \(error)")
        }
    }

    /// The steps of the span, to its last or to the step process 0 chose to stop after.
    private func run(_ steps: LocalSteps, stepper: RangeStepper, area: StepArea, delay: Int) throws {
        var step = Int(steps.step)
        var computed = (seconds: 0.0, examples: 0)
        defer {
            let totals = area.spanCompute(Int(steps.party))
            (totals[0], totals[1]) = (computed.seconds, Double(computed.examples))
        }
        while step < Int(steps.last) {
            if delay > 0 { usleep(useconds_t(delay * 1000)) }
            let timing = try take(step, of: steps, stepper: stepper, area: area)
            computed = (computed.seconds + timing.own, computed.examples + stepper.examplesComputed)
            step += 1
            if steps.party == 0 {
                let record = area.record(step: step - 1)
                let stats = stepper.statistics
                (record[0], record[1], record[2]) = (Double(stats.examples), Double(stats.correct), stats.lossSum)
                (record[3], record[4], record[5], record[6]) = (
                    timing.seconds, timing.compute, timing.slowest, timing.update
                )
                descent_store_release_u64(area.done, UInt64(step))
            }
            let stop = area.stopAfter.pointee
            if stop != 0, UInt64(step) >= stop { break }
        }
    }

    /// Where a step's time went: all of it, every process's compute summed and the slowest's, and
    /// this process's sum and update of its range.
    private struct Timing {
        var seconds = 0.0
        var compute = 0.0
        var slowest = 0.0
        var update = 0.0
        /// This process's own compute.
        var own = 0.0
    }

    /// One step. Each process writes its compute time before the first barrier; process 0 reads
    /// them all, and turns a stop request into the step to stop after, before the second.
    private func take(_ step: Int, of steps: LocalSteps, stepper: RangeStepper, area: StepArea) throws -> Timing {
        let (party, parties) = (Int(steps.party), Int(steps.parties))
        let timeout = Int64(steps.timeoutMilliseconds) * 1_000_000
        let started = ContinuousClock.now
        var (arrivals, reducing) = (0, started)
        var timing = Timing()
        try stepper.step(step) {
            arrivals += 1
            if arrivals == 1 {
                timing.own = (ContinuousClock.now - started).inSeconds
                area.compute(party).pointee = timing.own
            } else {
                timing.update = (ContinuousClock.now - reducing).inSeconds
                if party == 0 {
                    for r in 0..<parties {
                        let seconds = area.compute(r).pointee
                        timing.compute += seconds
                        timing.slowest = max(timing.slowest, seconds)
                    }
                    if descent_load_acquire_u64(area.stopRequest) != 0, step + 1 < Int(steps.last) {
                        area.stopAfter.pointee = UInt64(step + 1)
                    }
                }
            }
            let result = descent_barrier_wait(area.barrier, UInt32(parties), 0, timeout, area.abandon)
            guard result == 0 else {
                throw WorkerError.localStepsAbandoned(
                    result == -3 ? "the coordinator abandoned them" : "a barrier timed out")
            }
            if arrivals == 1 { reducing = ContinuousClock.now }
        }
        timing.seconds = (ContinuousClock.now - started).inSeconds
        return timing
    }

    private func mappedArea(_ steps: LocalSteps, layout: ParameterLayout) throws -> StepArea {
        let key = [Int(steps.pid), Int(steps.fd), layout.count, Int(steps.shardCount), Int(steps.parties)]
        if let area, area.key == key { return area.area }
        let mapped = try StepArea.open(
            pid: steps.pid, fd: steps.fd, parameterCount: layout.count, shards: Int(steps.shardCount),
            parties: Int(steps.parties))
        area = (key, mapped)
        stepper = nil
        return mapped
    }

    private func makeStepper(_ steps: LocalSteps, session: WorkerSession, area: StepArea) throws -> RangeStepper {
        var options = TrainingOptions(shape: session.shape)
        options.optimizer = steps.optimizer
        options.learningRate = steps.learningRate
        options.schedule = steps.schedule
        options.batch = Int(steps.batch)
        options.seed = steps.seed
        options.shards = Int(steps.shardCount)
        let key = "\(options) \(steps.shards) \(steps.party)/\(steps.parties) \(steps.exampleCount)"
        if let stepper, stepper.key == key { return stepper.stepper }
        let plan = try ShardPlan(exampleCount: Int(steps.exampleCount), shards: options.shards)
        let shards = try steps.shards.map { id in
            guard let shard = session.shards[Int(id)], shard.count == plan.ranges[Int(id)].count else {
                throw WorkerError.protocolViolation("LOCAL_STEPS names shard \(id), which this worker does not hold")
            }
            return shard
        }
        let made = try RangeStepper(
            options: options, plan: plan, shards: shards, rank: Int(steps.party), parties: Int(steps.parties),
            memory: area.stepperMemory)
        stepper = (key, made)
        return made
    }
}
