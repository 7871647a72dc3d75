import CSharedMemory
import Core
import Logging
import Wire

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
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
    /// The area and the stepper of the last span, kept while the next one is like it.
    private var area: (key: [Int], area: StepArea)?
    private var stepper: (key: String, stepper: RangeStepper)?

    init(log: Logger) { self.log = log }

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
            try run(steps, stepper: stepper, area: area)
            stepper.end(first: area.moment(0), second: area.moment(1))
            _ = descent_add_u64(area.finished, 1)
        } catch {
            _ = descent_add_u64(area.failed, 1)
            log.info("steps \(steps.step + 1)…\(steps.last) given up: \(error)")
        }
    }

    /// The steps of the span, to its last or to the step process 0 chose to stop after.
    private func run(_ steps: LocalSteps, stepper: RangeStepper, area: StepArea) throws {
        let (party, parties) = (Int(steps.party), UInt32(steps.parties))
        let timeout = Int64(steps.timeoutMilliseconds) * 1_000_000
        var step = Int(steps.step)
        let last = Int(steps.last)
        while step < last {
            let started = ContinuousClock.now
            var arrivals = 0
            let now = step
            try stepper.step(step) {
                arrivals += 1
                // Process 0 decides before the step's last barrier; the others read it after.
                if arrivals == 2, party == 0, descent_load_acquire_u64(area.stopRequest) != 0, now + 1 < last {
                    area.stopAfter.pointee = UInt64(now + 1)
                }
                let result = descent_barrier_wait(area.barrier, parties, 0, timeout, area.abandon)
                guard result == 0 else {
                    throw WorkerError.localStepsAbandoned(
                        result == -3 ? "the coordinator abandoned them" : "a barrier timed out")
                }
            }
            step += 1
            if party == 0 {
                let record = area.record(step: step - 1)
                let stats = stepper.statistics
                record[0] = Double(stats.examples)
                record[1] = Double(stats.correct)
                record[2] = stats.lossSum
                record[3] = (ContinuousClock.now - started).inSeconds
                descent_store_release_u64(area.done, UInt64(step))
            }
            let stop = area.stopAfter.pointee
            if stop != 0, UInt64(step) >= stop { break }
        }
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
