import Core
import Testing
import Wire

@testable import Coordinator
@testable import Worker

/// A coordinator and its workers in one process over `InMemoryTransport`: the real `WorkerPool`
/// feeds a real `Trainer`, real `WorkerLoop`s compute on threads, and the weights they train to
/// are the in-process reference's, bit for bit — with healthy workers, with a worker that sends a
/// poisoned partial or stops mid-run, and with one whose partials are late.
@Suite(.serialized) struct InMemoryRoleTests {
    @Test(arguments: [2, 3])
    func workersTrainTheReferenceWeights(workers: Int) throws {
        let options = try RoleRun.options()
        let run = try RoleRun.train(options, settings: RoleRun.settings(workers: workers))
        #expect(run.weights == (try RoleRun.reference(options)))
        #expect(run.reports.count == 20)
        #expect(run.reports.allSatisfy { $0.workers == workers && $0.timings.lostWorkers == 0 })
        #expect(run.ended == Array(repeating: true, count: workers), "every worker leaves on the goodbye")
        #expect(run.workers.allSatisfy { $0.error == nil })
    }

    /// Worker 0's partials of step 3 arrive as NaN, well-formed: the coordinator computes that shard
    /// itself, drops the worker, and its shards move to the others.
    @Test func aPoisonedPartialIsOverruledAndItsWorkerDropped() throws {
        let options = try RoleRun.options()
        let poison = FaultRule(.outgoing, .partial, step: 3, action: .corrupt(.nanGradients))
        let run = try RoleRun.train(options, settings: RoleRun.settings(workers: 3), faulty: [0]) { index, dealer in
            guard index == 0 else { return dealer }
            return FaultInjectingTransport(wrapping: dealer, rules: [poison])
        }
        #expect(run.weights == (try RoleRun.reference(options)))
        #expect(run.reports[2].timings.examplesByWorker[-1, default: 0] > 0, "the coordinator settled step 3")
        #expect(run.reports.prefix(2).allSatisfy { $0.timings.lostWorkers == 0 })
        #expect(run.reports.dropFirst(2).allSatisfy { $0.timings.lostWorkers == 1 })
        #expect(run.workersLeft == 2)
        #expect(run.ended.allSatisfy { $0 })
        #expect(run.workers.dropFirst().allSatisfy { $0.error == nil })
    }

    /// Worker 0's DEALER closes as step 5's STEP reaches it, as if its process died: its partials
    /// never come, it is lost when silent past the timeout, and its shards are computed elsewhere.
    @Test func aWorkerThatStopsMidRunHasItsShardsMoved() throws {
        let options = try RoleRun.options()
        var settings = RoleRun.settings(workers: 3, workerTimeout: .milliseconds(1500))
        // The loss itself is under test: no backup computation finishes the step before it.
        settings.backupAfter = nil
        let (run, rank) = try Self.trainStoppingWorker0AtStep5(options, settings: settings)
        #expect(run.weights == (try RoleRun.reference(options)))
        #expect(run.reports.prefix(4).allSatisfy { $0.timings.examplesByWorker[rank] != nil })
        #expect(run.reports.prefix(4).allSatisfy { $0.timings.lostWorkers == 0 })
        #expect(run.reports[4].timings.lostWorkers == 1)
        #expect(run.workersLeft == 2)
        #expect(run.ended.allSatisfy { $0 })
        #expect(run.workers[0].error as? WireError == .closed, "the stopped worker could not send its partials")
        #expect(run.workers.dropFirst().allSatisfy { $0.error == nil })
    }

    // MARK: Backup computation

    /// Every worker's partials take 20 ms; worker 0's of step 3 take 600 ms more each, as if it
    /// stalled. Step 3 gives up on it after 0.1 s (4 usual steps at least): the coordinator
    /// computes its shards, and computes them at once in the steps that follow, without asking it,
    /// until its late partials arrive — which are dropped — and it is asked again.
    @Test func aLateWorkersShardsAreComputedByTheCoordinatorAndItsPartialsDropped() throws {
        var options = try RoleRun.options()
        options.epochs = 10
        var settings = RoleRun.settings(workers: 3)
        settings.backupAfter = .milliseconds(100)
        var late: FaultInjectingTransport?
        let run = try RoleRun.train(options, settings: settings) { index, dealer in
            var rules = [FaultRule(.outgoing, .partial, action: .delay(.milliseconds(20)))]
            if index == 0 { rules.append(FaultRule(.outgoing, .partial, step: 3, action: .delay(.milliseconds(600)))) }
            let transport = FaultInjectingTransport(wrapping: dealer, rules: rules)
            if index == 0 { late = transport }
            return transport
        }
        // Ranks go by registration order: the late worker's is the one its WELCOME gave.
        let rank = Int(try #require(late?.rank))
        #expect(run.weights == (try RoleRun.reference(options)), "a backup changed the bits")
        let step3 = run.reports[2].timings
        #expect(step3.backups > 0 && step3.examplesByWorker[-1, default: 0] > 0, "step 3 was not backed up")
        #expect(step3.examplesByWorker[rank] == nil, "the late worker's partials of step 3 counted")
        let next = run.reports[3].timings
        #expect(
            next.examplesByWorker[rank] == nil && next.examplesByWorker[-1, default: 0] > 0,
            "step 4 asked the stalled worker instead of computing its shards: \(next.examplesByWorker)")
        let last = run.reports[run.reports.count - 1].timings
        #expect(last.examplesByWorker[rank, default: 0] > 0, "the late worker was not asked again once it answered")
        #expect(last.rejectedMessages > 0, "the late partials were not dropped")
        #expect(run.reports.allSatisfy { $0.timings.lostWorkers == 0 } && run.workersLeft == 3)
        #expect(run.ended.allSatisfy { $0 } && run.workers.allSatisfy { $0.error == nil })
    }

    /// Worker 0's DEALER closes at step 5, as in `aWorkerThatStopsMidRunHasItsShardsMoved`, but
    /// the timeout is far: the coordinator computes its shards from step 5 on, with the same bits.
    @Test func aSilentWorkersShardsAreComputedByTheCoordinatorUntilItIsLost() throws {
        let options = try RoleRun.options()
        var settings = RoleRun.settings(workers: 3)
        settings.backupAfter = .milliseconds(50)
        let (run, rank) = try Self.trainStoppingWorker0AtStep5(options, settings: settings)
        #expect(run.weights == (try RoleRun.reference(options)))
        #expect(
            run.reports.dropFirst(4).allSatisfy {
                $0.timings.examplesByWorker[rank] == nil && $0.timings.examplesByWorker[-1, default: 0] > 0
            }, "from step 5 on, the coordinator computes the silent worker's shards")
        #expect(run.reports.allSatisfy { $0.timings.lostWorkers == 0 }, "30 s of silence did not pass")
        #expect(run.workers[0].error as? WireError == .closed)
    }

    /// Trains with worker 0's DEALER closing as step 5's STEP reaches it, as if its process died;
    /// returns the run and that worker's rank (ranks go by registration order).
    private static func trainStoppingWorker0AtStep5(_ options: TrainingOptions, settings: PoolSettings) throws
        -> (RoleRun, Int)
    {
        var silent: FaultInjectingTransport?
        let run = try RoleRun.train(options, settings: settings, faulty: [0]) { index, dealer in
            guard index == 0 else { return dealer }
            let stop = FaultRule(.incoming, .step, step: 5, action: .halt(.exit(status: 1)))
            silent = FaultInjectingTransport(wrapping: dealer, rules: [stop]) { _, _, _ in dealer.close() }
            return silent!
        }
        return (run, Int(try #require(silent?.rank)))
    }
}
