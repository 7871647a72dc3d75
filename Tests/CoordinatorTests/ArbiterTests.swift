import Core
import Testing

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
}
