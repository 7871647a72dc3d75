import Core
import Testing
import Wire

@testable import Coordinator
@testable import Worker

/// A coordinator and its workers in one process over `InMemoryTransport`: the real `WorkerPool`
/// feeds a real `Trainer`, real `WorkerLoop`s compute on threads, and the weights they train to
/// are the in-process reference's, bit for bit — with healthy workers, and with a worker that
/// sends a poisoned partial or stops mid-run.
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
        let settings = RoleRun.settings(workers: 3, workerTimeout: .milliseconds(1500))
        let run = try RoleRun.train(options, settings: settings, faulty: [0]) { index, dealer in
            guard index == 0 else { return dealer }
            let stop = FaultRule(.incoming, .step, step: 5, action: .halt(.exit(status: 1)))
            return FaultInjectingTransport(wrapping: dealer, rules: [stop]) { _, _, _ in dealer.close() }
        }
        #expect(run.weights == (try RoleRun.reference(options)))
        #expect(run.reports.prefix(4).allSatisfy { $0.timings.lostWorkers == 0 })
        #expect(run.reports[4].timings.lostWorkers == 1)
        #expect(run.workersLeft == 2)
        #expect(run.ended.allSatisfy { $0 })
        #expect(run.workers[0].error as? WireError == .closed, "the stopped worker could not send its partials")
        #expect(run.workers.dropFirst().allSatisfy { $0.error == nil })
    }
}
