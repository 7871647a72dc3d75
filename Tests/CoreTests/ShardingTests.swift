import Foundation
import Testing

@testable import Core

/// m examples cut into K shards, stepped through B at a time.
struct ScheduleCase: Sendable, CustomTestStringConvertible {
    let m: Int, shards: Int, batch: Int
    var testDescription: String { "m \(m), K \(shards), B \(batch)" }
}

/// Divisible and not, B smaller than K, K = m, one shard, and a batch of one.
private let scheduleCases = [
    ScheduleCase(m: 103, shards: 4, batch: 10), ScheduleCase(m: 100, shards: 3, batch: 7),
    ScheduleCase(m: 64, shards: 4, batch: 16), ScheduleCase(m: 17, shards: 5, batch: 4),
    ScheduleCase(m: 10, shards: 3, batch: 2), ScheduleCase(m: 73, shards: 9, batch: 8),
    ScheduleCase(m: 5, shards: 5, batch: 2), ScheduleCase(m: 11, shards: 1, batch: 4),
    ScheduleCase(m: 1000, shards: 7, batch: 128), ScheduleCase(m: 9, shards: 2, batch: 1),
]

/// The indices a selection names, in order.
private func indices(_ selection: ExampleSelection) -> [Int] {
    switch selection {
    case .range(let r): return Array(r)
    case .list(let l): return l.map(Int.init)
    }
}

@Suite struct ShardPlanTests {
    @Test(arguments: [(1, 1), (10, 1), (10, 3), (103, 4), (7, 7), (1000, 7), (5, 2)])
    func shardsAreContiguousCoverAndDifferByAtMostOne(m: Int, k: Int) throws {
        let plan = try ShardPlan(exampleCount: m, shards: k)
        #expect(plan.shardCount == k)
        #expect(plan.exampleCount == m)
        #expect(plan.ranges.first?.lowerBound == 0)
        #expect(plan.ranges.last?.upperBound == m)
        for (previous, next) in zip(plan.ranges, plan.ranges.dropFirst()) {
            #expect(previous.upperBound == next.lowerBound, "shards must be contiguous")
        }
        let sizes = plan.ranges.map(\.count)
        #expect(sizes.reduce(0, +) == m)
        #expect(sizes.max()! - sizes.min()! <= 1)
        #expect(sizes.min()! >= 1)
    }

    @Test(arguments: [(10, 0), (10, -1), (5, 6), (0, 1)])
    func impossibleShardCountsAreRejected(m: Int, k: Int) {
        let error = #expect(throws: ConfigurationError.self) { try ShardPlan(exampleCount: m, shards: k) }
        guard case .invalid(let field, _) = error else {
            Issue.record("expected .invalid, got \(String(describing: error))")
            return
        }
        #expect(field == "--shards")
    }
}

@Suite struct BatchScheduleTests {
    /// Every step but an epoch's last has exactly B examples; the last has the rest.
    @Test(arguments: scheduleCases)
    func stepsHoldBExamplesAndTheLastTheRest(c: ScheduleCase) throws {
        let schedule = try BatchSchedule(plan: ShardPlan(exampleCount: c.m, shards: c.shards), batch: c.batch, seed: 3)
        let steps = (c.m + c.batch - 1) / c.batch
        #expect(!schedule.isFullBatch)
        #expect(schedule.batchSize == c.batch)
        #expect(schedule.stepsPerEpoch == steps)
        let permutations = schedule.permutations(epoch: 0)
        for j in 0..<steps {
            let work = schedule.work(stepInEpoch: j, permutations: permutations)
            #expect(work.map(\.shard) == Array(0..<c.shards), "one work item per shard, in shard order")
            let total = work.map(\.selection.count).reduce(0, +)
            let expected = j < steps - 1 ? c.batch : c.m - (steps - 1) * c.batch
            #expect(total == expected, "step \(j)")
            #expect(schedule.examples(stepInEpoch: j) == expected, "step \(j)")
        }
    }

    /// Over an epoch, each shard's examples are each taken exactly once, in the epoch's order.
    @Test(arguments: scheduleCases)
    func everyExampleOncePerEpoch(c: ScheduleCase) throws {
        let plan = try ShardPlan(exampleCount: c.m, shards: c.shards)
        let schedule = try BatchSchedule(plan: plan, batch: c.batch, seed: 11)
        for epoch in 0..<2 {
            let permutations = schedule.permutations(epoch: epoch)
            var taken = Array(repeating: [Int](), count: c.shards)
            for j in 0..<schedule.stepsPerEpoch {
                for item in schedule.work(stepInEpoch: j, permutations: permutations) {
                    guard case .list = item.selection else {
                        Issue.record("a mini-batch selection must be a list")
                        continue
                    }
                    taken[item.shard] += indices(item.selection)
                }
            }
            for k in 0..<c.shards {
                #expect(taken[k].sorted() == Array(0..<plan.ranges[k].count), "shard \(k), epoch \(epoch)")
                #expect(taken[k] == permutations[k].map(Int.init), "shard \(k) follows its shuffled order")
            }
        }
    }

    /// Shard k's part of a step of n examples stays within one example of n·s_k/m.
    @Test(arguments: scheduleCases)
    func shardSharesAreProportional(c: ScheduleCase) throws {
        let plan = try ShardPlan(exampleCount: c.m, shards: c.shards)
        let schedule = try BatchSchedule(plan: plan, batch: c.batch, seed: 5)
        let permutations = schedule.permutations(epoch: 0)
        for j in 0..<schedule.stepsPerEpoch {
            let n = schedule.examples(stepInEpoch: j)
            for item in schedule.work(stepInEpoch: j, permutations: permutations) {
                let fair = Double(n * plan.ranges[item.shard].count) / Double(c.m)
                #expect(abs(Double(item.selection.count) - fair) <= 1, "step \(j), shard \(item.shard)")
            }
        }
    }

    @Test func permutationsAreDeterministicAndVary() throws {
        let plan = try ShardPlan(exampleCount: 103, shards: 4)
        let a = try BatchSchedule(plan: plan, batch: 10, seed: 42)
        let b = try BatchSchedule(plan: plan, batch: 10, seed: 42)
        let otherSeed = try BatchSchedule(plan: plan, batch: 10, seed: 43)
        #expect(a.permutations(epoch: 0) == b.permutations(epoch: 0))
        #expect(a.permutations(epoch: 5) == b.permutations(epoch: 5))
        let epoch0 = a.permutations(epoch: 0)
        let epoch1 = a.permutations(epoch: 1)
        let seed43 = otherSeed.permutations(epoch: 0)
        // 25-element shards: a repeat by chance has probability 1/25!.
        for k in 0..<4 {
            #expect(epoch0[k] != epoch1[k], "shard \(k): epochs must shuffle differently")
            #expect(epoch0[k] != seed43[k], "shard \(k): seeds must shuffle differently")
            #expect(epoch0[k] != Array(0..<Int32(plan.ranges[k].count)), "shard \(k) must be shuffled")
        }
        #expect(epoch0[0] != epoch0[1], "shards must shuffle differently")
    }

    /// B = 0 and B ≥ m are full batch: one step per epoch, each shard whole, in place.
    @Test(arguments: [0, 103, 104, 1000])
    func fullBatchTakesWholeShards(batch: Int) throws {
        let plan = try ShardPlan(exampleCount: 103, shards: 4)
        let schedule = try BatchSchedule(plan: plan, batch: batch, seed: 1)
        #expect(schedule.isFullBatch)
        #expect(schedule.stepsPerEpoch == 1)
        #expect(schedule.batchSize == 103)
        #expect(schedule.examples(stepInEpoch: 0) == 103)
        let work = schedule.work(stepInEpoch: 0, permutations: [])
        #expect(work.map(\.shard) == [0, 1, 2, 3])
        #expect(work.map(\.selection) == plan.ranges.map { .range(0..<$0.count) })
    }

    @Test func negativeBatchIsRejected() throws {
        let plan = try ShardPlan(exampleCount: 10, shards: 2)
        #expect(throws: ConfigurationError.self) { try BatchSchedule(plan: plan, batch: -1, seed: 1) }
    }
}

@Suite struct ShardCountTests {
    /// `--shards auto`: 4 shards a worker, none under 32 examples a step, at least one a worker,
    /// at most one an example.
    @Test(arguments: [
        (1024, 60_000, 2, 8), (128, 60_000, 2, 4), (64, 60_000, 2, 2), (32, 60_000, 4, 4), (0, 60_000, 2, 8),
        (0, 3, 2, 2), (10, 10, 1, 1), (0, 2, 4, 2),
    ])
    func automaticShardCount(batch: Int, examples: Int, workers: Int, expected: Int) {
        let perStep = batch == 0 ? examples : batch
        #expect(
            ShardPlan.automaticCount(examplesPerStep: perStep, exampleCount: examples, workers: workers) == expected)
    }
}
