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

@Suite struct GradientAccumulatorTests {
    /// A 2-3-2 network: 17 values per partial.
    private let layout = ParameterLayout(shape: try! NetworkShape(layers: [2, 3, 2], activation: .tanh))
    private let shards = 5

    /// Partials whose magnitudes span many binades, so that Float addition in another order
    /// rounds differently.
    private func partials() -> [[Float]] {
        var rng = Xoshiro256(seed: 77)
        var partials: [[Float]] = []
        for _ in 0..<shards {
            partials.append(
                (0..<layout.count).map { _ in
                    let scale = pow(10.0, Double(rng.next(below: 8) - 3))
                    return Float((rng.nextUnit() - 0.5) * scale)
                })
        }
        return partials
    }

    private let stats: [(examples: Int, correct: Int, loss: Double)] = [
        (21, 5, 0.1), (20, 9, 1e10), (22, 0, -1e10), (20, 20, 3.3), (19, 1, 1e-7),
    ]

    /// (((g0 + g1) + g2) + …) in Float, the order the accumulator promises.
    private func shardOrderSum(_ g: [[Float]]) -> [Float] {
        var sum = g[0]
        for k in 1..<g.count { for i in sum.indices { sum[i] += g[k][i] } }
        return sum
    }

    /// Any arrival order gives the bits of the shard-order sum, and the right totals.
    @Test(arguments: [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [1, 2, 3, 4, 0], [0, 4, 3, 2, 1]])
    func arrivalOrderDoesNotChangeBits(order: [Int]) {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        for k in order {
            #expect(!accumulator.has(shard: k))
            #expect(!accumulator.isComplete)
            g[k].withUnsafeBufferPointer { values in
                accumulator.add(
                    shard: k, gradients: values.baseAddress!, examples: stats[k].examples,
                    correct: stats[k].correct, lossSum: stats[k].loss)
            }
            #expect(accumulator.has(shard: k))
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array.map(\.bitPattern) == shardOrderSum(g).map(\.bitPattern))
        #expect(accumulator.examples == 102)
        #expect(accumulator.correct == 35)
        let shardOrderLoss = stats.reduce(0.0) { $0 + $1.loss }
        #expect(accumulator.lossSum.bitPattern == shardOrderLoss.bitPattern)
    }

    /// `accumulate` (the partial computed into the accumulator's own buffer: the sum itself for
    /// shard 0) gives the bits `add` gives, in any arrival order and mixed with `add`.
    @Test(arguments: [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]])
    func accumulateInPlaceMatchesAdd(order: [Int]) {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        for k in order {
            if k % 2 == 0 {
                accumulator.accumulate(shard: k, examples: stats[k].examples) { buffer in
                    buffer.copy(from: g[k])
                    var evaluation = OutputLayer.Evaluation()
                    evaluation.correct = stats[k].correct
                    evaluation.lossSum = stats[k].loss
                    return evaluation
                }
            } else {
                g[k].withUnsafeBufferPointer { values in
                    accumulator.add(
                        shard: k, gradients: values.baseAddress!, examples: stats[k].examples,
                        correct: stats[k].correct, lossSum: stats[k].loss)
                }
            }
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array.map(\.bitPattern) == shardOrderSum(g).map(\.bitPattern))
        #expect(accumulator.examples == 102 && accumulator.correct == 35)
        #expect(accumulator.lossSum.bitPattern == stats.reduce(0.0) { $0 + $1.loss }.bitPattern)
    }

    /// Partials arriving segment by segment, shards and segments interleaved in any order, sum
    /// to the bits of whole partials added in shard order.
    @Test(arguments: [UInt64(1), 2, 3])
    func segmentsInAnyOrderGiveTheShardOrderBits(seed: UInt64) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [300, 900, 20, 3], activation: .relu))
        let shards = 4
        var rng = Xoshiro256(seed: seed)
        let g: [[Float]] = (0..<shards).map { _ in
            (0..<layout.count).map { _ in Float((rng.nextUnit() - 0.5) * pow(10.0, Double(rng.next(below: 8) - 3))) }
        }
        let whole = GradientAccumulator(layout: layout, shards: shards)
        for k in 0..<shards {
            g[k].withUnsafeBufferPointer {
                whole.add(shard: k, gradients: $0.baseAddress!, examples: k + 1, correct: k, lossSum: Double(k) / 3)
            }
        }
        let pieces = GradientAccumulator(layout: layout, shards: shards)
        var arrivals = (0..<shards).flatMap { k in pieces.segments.indices.map { (k, $0) } }
        for i in arrivals.indices.reversed() { arrivals.swapAt(i, rng.next(below: i + 1)) }
        #expect(pieces.segments.count >= 4)
        // Each segment is reported once, when its sum is complete and not before.
        var reported: [Range<Int>] = []
        pieces.reset { range in
            reported.append(range)
            #expect(Array(pieces.sum.array[range]).map(\.bitPattern) == Array(whole.sum.array[range]).map(\.bitPattern))
        }
        for (k, s) in arrivals {
            let lastOfSegment = (0..<shards).allSatisfy { $0 == k || pieces.has(shard: $0, segment: s) }
            let before = reported.count
            #expect(!pieces.isComplete && !pieces.has(shard: k, segment: s))
            g[k].withUnsafeBufferPointer {
                pieces.add(
                    shard: k, segment: s, values: $0.baseAddress! + pieces.segments[s].lowerBound,
                    examples: k + 1, correct: k, lossSum: Double(k) / 3)
            }
            #expect(reported.count == before + (lastOfSegment ? 1 : 0))
            if lastOfSegment { #expect(reported.last == pieces.segments[s]) }
        }
        #expect(pieces.isComplete && pieces.nextShard == shards)
        #expect(
            reported.sorted { $0.lowerBound < $1.lowerBound }
                == pieces.segments.sorted { $0.lowerBound < $1.lowerBound })
        #expect(pieces.sum.array.map(\.bitPattern) == whole.sum.array.map(\.bitPattern))
        #expect(pieces.examples == whole.examples && pieces.correct == whole.correct)
        #expect(pieces.lossSum.bitPattern == whole.lossSum.bitPattern)
    }

    /// A whole partial added after some of its segments came on their own (the coordinator's
    /// own computation of a shard whose worker failed midway) adds only the segments not yet in:
    /// those that came first keep their values, here distinguishable (×7), all in shard order.
    @Test(arguments: [[0], [1], [0, 2]])
    func aWholePartialAddsTheSegmentsNotYetIn(segmentsFirst: [Int]) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [300, 900, 20, 3], activation: .relu))
        var rng = Xoshiro256(seed: 9)
        let g: [[Float]] = (0..<2).map { _ in
            (0..<layout.count).map { _ in Float((rng.nextUnit() - 0.5) * pow(10.0, Double(rng.next(below: 8) - 3))) }
        }
        let accumulator = GradientAccumulator(layout: layout, shards: 2)
        #expect(accumulator.segments.count >= 3)
        for s in segmentsFirst {
            let fromWorker = g[1].map { $0 * 7 }
            fromWorker.withUnsafeBufferPointer {
                accumulator.add(
                    shard: 1, segment: s, values: $0.baseAddress! + accumulator.segments[s].lowerBound,
                    examples: 1, correct: 0, lossSum: 0)
            }
        }
        for k in [1, 0] {
            g[k].withUnsafeBufferPointer {
                accumulator.add(shard: k, gradients: $0.baseAddress!, examples: 1, correct: 0, lossSum: 0)
            }
        }
        #expect(accumulator.isComplete)
        var expected = zip(g[0], g[1]).map { $0 + $1 }
        for s in segmentsFirst {
            for i in accumulator.segments[s] { expected[i] = g[0][i] + g[1][i] * 7 }
        }
        #expect(accumulator.sum.array.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// The check above is only meaningful if another order would give other bits.
    @Test func reversedOrderWouldRoundDifferently() {
        let g = partials()
        var reversed = g[shards - 1]
        for k in stride(from: shards - 2, through: 0, by: -1) { for i in reversed.indices { reversed[i] += g[k][i] } }
        #expect(reversed.map(\.bitPattern) != shardOrderSum(g).map(\.bitPattern))
        let reversedLoss = stats.reversed().reduce(0.0) { $0 + $1.loss }
        #expect(reversedLoss.bitPattern != stats.reduce(0.0) { $0 + $1.loss }.bitPattern)
    }

    /// A partial ahead of a missing one waits: it is held, but not yet counted.
    @Test func earlyPartialsWaitForTheirTurn() {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        g[2].withUnsafeBufferPointer {
            accumulator.add(shard: 2, gradients: $0.baseAddress!, examples: 22, correct: 0, lossSum: 1)
        }
        #expect(accumulator.has(shard: 2) && !accumulator.has(shard: 0) && !accumulator.has(shard: 1))
        #expect(accumulator.examples == 0 && accumulator.nextShard == 0)
        g[0].withUnsafeBufferPointer {
            accumulator.add(shard: 0, gradients: $0.baseAddress!, examples: 21, correct: 5, lossSum: 1)
        }
        #expect(accumulator.examples == 21 && accumulator.nextShard == 1)
        g[1].withUnsafeBufferPointer {
            accumulator.add(shard: 1, gradients: $0.baseAddress!, examples: 20, correct: 9, lossSum: 1)
        }
        #expect(accumulator.examples == 63 && accumulator.nextShard == 3)
        #expect(!accumulator.isComplete)
    }

    /// After `reset`, nothing of the previous step remains: a step fed in another order, with
    /// other partials, sums only those.
    @Test func resetStartsAFreshStep() {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        for k in [3, 1, 4, 0, 2] {
            g[k].withUnsafeBufferPointer {
                accumulator.add(shard: k, gradients: $0.baseAddress!, examples: 1, correct: 1, lossSum: 1)
            }
        }
        accumulator.reset()
        #expect((0..<shards).allSatisfy { !accumulator.has(shard: $0) })
        #expect(accumulator.examples == 0 && accumulator.correct == 0 && accumulator.lossSum == 0)
        let second = g.map { $0.map { $0 * -3 } }
        for k in [4, 2, 0, 3, 1] {
            second[k].withUnsafeBufferPointer {
                accumulator.add(shard: k, gradients: $0.baseAddress!, examples: 2, correct: 0, lossSum: 0.5)
            }
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array.map(\.bitPattern) == shardOrderSum(second).map(\.bitPattern))
        #expect(accumulator.examples == 10 && accumulator.correct == 0 && accumulator.lossSum == 2.5)
    }

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
