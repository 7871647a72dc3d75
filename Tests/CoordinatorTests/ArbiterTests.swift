import Core
import Testing
import Wire

@testable import Coordinator

@Suite struct ArbiterTests {
    let dataset = Fixtures.dataset(count: 12)
    let plan = try! ShardPlan(exampleCount: 12, shards: 2)

    /// The arbiter's partial is the one the in-process reference computes for the shard.
    @Test func aSettledShardHasTheReferenceBits() throws {
        let p = Fixtures.parameters()
        let work = [
            ShardWork(shard: 0, selection: .range(0..<6)), ShardWork(shard: 1, selection: .list([3, 0])),
        ]
        let reference = GradientAccumulator(layout: Fixtures.layout, shards: 2)
        try InProcessGradients(dataset: dataset, plan: plan, layout: Fixtures.layout)
            .computePartials(step: 1, parameters: p, work: work, into: reference)

        let settled = GradientAccumulator(layout: Fixtures.layout, shards: 2)
        let arbiter = Arbiter(dataset: dataset, plan: plan, layout: Fixtures.layout)
        #expect(try arbiter.settle(work[0], step: 1, parameters: p, into: settled) == 6)
        #expect(try arbiter.settle(work[1], step: 1, parameters: p, into: settled) == 2)
        #expect(settled.isComplete)
        #expect(settled.sum.array.map(\.bitPattern) == reference.sum.array.map(\.bitPattern))
        #expect(settled.lossSum == reference.lossSum && settled.correct == reference.correct)
    }

    @Test func aPartialNotFiniteMeansTheRunDiverged() {
        let p = ParameterBuffer(layout: Fixtures.layout)
        for i in 0..<p.count { p.values[i] = .nan }
        let arbiter = Arbiter(dataset: dataset, plan: plan, layout: Fixtures.layout)
        let accumulator = GradientAccumulator(layout: Fixtures.layout, shards: 2)
        #expect(throws: TrainingError.self) {
            try arbiter.settle(
                ShardWork(shard: 1, selection: .range(0..<6)), step: 3, parameters: p, into: accumulator)
        }
        #expect(!accumulator.has(shard: 1, segment: 0))
    }

    /// The coordinator computed a shard itself, then the worker's partial arrives (late): it is
    /// dropped as a duplicate, and the sum is the reference's, each shard counted once.
    @Test func aSettledShardAndTheLateOriginalNeverBothCount() throws {
        let p = Fixtures.parameters()
        let work = [
            ShardWork(shard: 0, selection: .range(0..<6)), ShardWork(shard: 1, selection: .range(0..<6)),
        ]
        let reference = GradientAccumulator(layout: Fixtures.layout, shards: 2)
        try InProcessGradients(dataset: dataset, plan: plan, layout: Fixtures.layout)
            .computePartials(step: 1, parameters: p, work: work, into: reference)

        let accumulator = GradientAccumulator(layout: Fixtures.layout, shards: 2)
        let arbiter = Arbiter(dataset: dataset, plan: plan, layout: Fixtures.layout)
        _ = try arbiter.settle(work[0], step: 1, parameters: p, into: accumulator)
        let validator = PartialValidator(
            shardCount: 2, segments: Fixtures.layout.segments.map(\.range), encoding: .float32)
        let segments = Fixtures.layout.segments
        for (index, segment) in segments.enumerated() {
            let late = Partial(
                step: 1, shardID: 0, segment: UInt32(index), exampleCount: 6, correctCount: 0, lossSum: 1,
                gradients: .float32(FloatArray([Float](repeating: 1, count: segment.range.count))))
            let verdict = validator.verdict(
                on: late, step: 1, hostedShards: [0], work: [0: work[0], 1: work[1]], accumulator: accumulator)
            #expect(verdict == .ignore("shard 0 segment \(index) arrived already"))
        }
        _ = try arbiter.settle(work[1], step: 1, parameters: p, into: accumulator)
        #expect(accumulator.isComplete && accumulator.examples == 12)
        #expect(accumulator.sum.array.map(\.bitPattern) == reference.sum.array.map(\.bitPattern))
    }
}
