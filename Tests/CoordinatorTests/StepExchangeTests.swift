import Core
import Testing
import Wire

@testable import Coordinator

@Suite struct StepExchangeTests {
    let router = InMemoryTransport.router()
    let dealer: InMemoryTransport
    let exchange: StepExchange
    let worker: PoolWorker
    let accumulator = GradientAccumulator(layout: Fixtures.layout, shards: 2)
    let work = [ShardWork(shard: 0, selection: .range(0..<3)), ShardWork(shard: 1, selection: .list([5, 4]))]

    init() {
        dealer = router.connectDealer()
        let outbox = WorkerOutbox(transport: router)
        exchange = StepExchange(
            outbox: outbox, inbox: WorkerInbox(transport: router), layout: Fixtures.layout, log: Fixtures.silent)
        worker = PoolWorker(peer: dealer.peerID!, rank: 4, name: "w", address: nil)
        worker.shards = [0, 1]
    }

    @Test func aWorkerIsAskedOnceForItsReadyShards() throws {
        let p = Fixtures.parameters()
        exchange.begin(step: 7, parameters: p, work: work)
        worker.ready = [1]
        #expect(try exchange.request(from: worker, accumulator: accumulator) > 0)
        var messages = try Fixtures.drain(dealer)
        #expect(messages.count == 2)
        guard case .params(let params) = messages.first, case .step(let step) = messages.last else {
            Issue.record("not PARAMS then STEP: \(messages)")
            return
        }
        #expect(params.step == 7 && params.values.withUnsafeFloats { Array($0) } == p.array)
        // The worker adds what it holds by the tree over the run's 2 shards.
        #expect(step == Step(step: 7, treeShards: 2, plan: [work[1]]))

        // Asked already: nothing more for shard 1; shard 0, once ready, alone.
        #expect(try exchange.request(from: worker, accumulator: accumulator) == 0)
        worker.ready = [0, 1]
        try exchange.request(from: worker, accumulator: accumulator)
        messages = try Fixtures.drain(dealer)
        #expect(messages.last == .step(Step(step: 7, treeShards: 2, plan: [work[0]])))
    }

    /// A shard with some segments in already (its first host was lost midway) is asked of its new
    /// host with the rest, each to be sent on its own: a node holding it could never be taken.
    @Test func aShardPartlyInIsAskedForOnItsOwn() throws {
        exchange.begin(step: 3, parameters: Fixtures.parameters(), work: work)
        // A gradient of several segments (the fixture's has one).
        let layout = ParameterLayout(shape: try NetworkShape(layers: [300, 900, 20, 3], activation: .relu))
        let accumulator = GradientAccumulator(layout: layout, shards: 2)
        let values = [Float](repeating: 1, count: layout.count)
        accumulator.add(shard: 1, segment: 0, values: values, examples: 2, correct: 0, lossSum: 0)
        #expect(accumulator.touched(shard: 1) && !accumulator.has(shard: 1))
        worker.ready = [0, 1]
        try exchange.request(from: worker, accumulator: accumulator)
        #expect(try Fixtures.drain(dealer).last == .step(Step(step: 3, treeShards: 0, plan: work)))
    }

    /// 16-bit partials are rounded with each shard's own residual: never added on the worker.
    @Test func sixteenBitRunsNeverAskForNodes() throws {
        let exchange = StepExchange(
            outbox: WorkerOutbox(transport: router), inbox: WorkerInbox(transport: router), layout: Fixtures.layout,
            addsByTree: false, log: Fixtures.silent)
        exchange.begin(step: 3, parameters: Fixtures.parameters(), work: work)
        worker.ready = [0, 1]
        try exchange.request(from: worker, accumulator: accumulator)
        #expect(try Fixtures.drain(dealer).last == .step(Step(step: 3, treeShards: 0, plan: work)))
    }

    @Test func aShardMovedToAnotherWorkerIsAskedOfIt() throws {
        exchange.begin(step: 1, parameters: Fixtures.parameters(), work: work)
        worker.ready = [0]
        try exchange.request(from: worker, accumulator: accumulator)
        let other = router.connectDealer()
        let adopter = PoolWorker(peer: other.peerID!, rank: 5, name: "adopter", address: nil)
        adopter.ready = [0]
        // Ready but still on its way in (a move by speed): its old host computes it meanwhile.
        adopter.incoming = [0]
        #expect(try exchange.request(from: adopter, accumulator: accumulator) == 0)
        adopter.incoming = []
        adopter.shards = [0]
        #expect(try exchange.request(from: adopter, accumulator: accumulator) > 0)
        #expect(try Fixtures.drain(other).last == .step(Step(step: 1, treeShards: 2, plan: [work[0]])))
    }

    @Test func gatheredPartialsCompleteTheSumAndTheTimings() throws {
        exchange.begin(step: 2, parameters: Fixtures.parameters(), work: work)
        exchange.finishSending(bytes: 10)
        let count = Fixtures.layout.count
        var expected = [Float](repeating: 0, count: count)
        for item in work {
            var partial = Partial(
                step: 2, shardID: UInt32(item.shard), exampleCount: UInt32(item.selection.count), correctCount: 1,
                lossSum: 1.5, computeSeconds: 0.25, gradients: .float32(FloatArray([])))
            let values = (0..<count).map { Float($0 + item.shard) * 0.5 }
            for (index, segment) in Fixtures.layout.segments.enumerated() {
                partial.segment = UInt32(index)
                partial.gradients = .float32(FloatArray(Array(values[segment.range])))
                exchange.gather(partial, from: worker, into: accumulator)
            }
            for i in 0..<count { expected[i] += values[i] }
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array == expected)
        let timings = exchange.finish(lostWorkers: 1, rejectedMessages: 2)
        #expect(timings.examplesByWorker == [4: 5])
        #expect(timings.compute == 0.5 && timings.computeSlowest == 0.25)
        #expect(timings.bytesSent == 10 && timings.lostWorkers == 1 && timings.rejectedMessages == 2)
        #expect(exchange.begun == nil)
    }

    @Test func sixteenBitPartialsAreReadBackBeforeTheyAreAdded() throws {
        exchange.begin(step: 2, parameters: Fixtures.parameters(), work: [work[0]])
        let accumulator = GradientAccumulator(layout: Fixtures.layout, shards: 1)
        for (index, segment) in Fixtures.layout.segments.enumerated() {
            let bits = HalfArray([UInt16](repeating: 0x3C00, count: segment.range.count)) // 1.0
            let partial = Partial(
                step: 2, shardID: 0, segment: UInt32(index), exampleCount: 3, correctCount: 0, lossSum: 1,
                gradients: .float16(bits))
            exchange.gather(partial, from: worker, into: accumulator)
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array == [Float](repeating: 1, count: Fixtures.layout.count))
    }

    /// In the broadcast tree the first worker takes the parameters in pieces, the others none
    /// from the coordinator; a worker asked again within the step is sent them whole.
    @Test func theBroadcastTreeDecidesHowParametersTravel() throws {
        let p = Fixtures.parameters()
        exchange.begin(step: 5, parameters: p, work: work)
        worker.ready = [1]
        try exchange.request(from: worker, accumulator: accumulator, route: .pieces)
        var messages = try Fixtures.drain(dealer)
        guard case .paramsPart(let piece) = messages.first, case .step = messages.last, messages.count == 2 else {
            Issue.record("not one PARAMS_PART then STEP: \(messages)")
            return
        }
        #expect(piece.step == 5 && piece.offset == 0 && Int(piece.total) == p.count)
        #expect(piece.values.withUnsafeFloats { Array($0) } == p.array)

        exchange.begin(step: 6, parameters: p, work: work)
        try exchange.request(from: worker, accumulator: accumulator, route: .relayed)
        messages = try Fixtures.drain(dealer)
        #expect(messages.count == 1 && messages.first.map { if case .step = $0 { true } else { false } } == true)
        worker.ready = [0, 1]
        try exchange.request(from: worker, accumulator: accumulator, route: .relayed)
        messages = try Fixtures.drain(dealer)
        guard case .params(let params) = messages.first else {
            Issue.record("asked again, the worker was not sent the whole parameters: \(messages)")
            return
        }
        #expect(params.step == 6)
    }
}
