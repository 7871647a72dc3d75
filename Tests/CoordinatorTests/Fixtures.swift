import Core
import Logging
import Wire

@testable import Coordinator

/// A small network, its data and a pool's parts wired to an in-memory transport, for the tests.
enum Fixtures {
    /// 3 features, 4 hidden units, 2 classes.
    static let shape = try! NetworkShape(layers: [3, 4, 2], activation: .relu)
    static let layout = ParameterLayout(shape: shape)
    static let silent = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// `count` examples of `shape`'s inputs: feature i of example j is (i + 1)·(j − count/2)/count,
    /// the label j mod 2.
    static func dataset(count: Int) -> Dataset {
        var values: [Float] = []
        for j in 0..<count {
            for i in 0..<shape.inputs { values.append(Float(i + 1) * Float(j - count / 2) / Float(count)) }
        }
        let features = Matrix(rows: shape.inputs, cols: count, columnMajor: values)
        return Dataset(features: features, labels: (0..<count).map { Int32($0 % 2) }, source: "fixture")
    }

    /// Parameters with every value small and distinct.
    static func parameters() -> ParameterBuffer {
        let p = ParameterBuffer(layout: layout)
        for i in 0..<p.count { p.values[i] = Float(i % 7) * 0.1 - 0.3 }
        return p
    }

    static func settings(minWorkers: Int = 1, workerTimeout: Duration = .seconds(10)) -> PoolSettings {
        PoolSettings(
            expectedWorkers: 1, minWorkers: minWorkers, registerTimeout: .milliseconds(50),
            workerTimeout: workerTimeout, threads: 1, seed: 1)
    }

    /// Every message waiting at `dealer`, decoded.
    static func drain(_ dealer: InMemoryTransport) throws -> [Message] {
        var messages: [Message] = []
        while let (_, message) = try dealer.receiveMessage(timeoutMilliseconds: 0) {
            messages.append(try message.get())
        }
        return messages
    }
}

/// A `Membership` over an in-memory ROUTER, with a DEALER per worker that registers.
final class MembershipFixture {
    let router = InMemoryTransport.router()
    let plan: ShardPlan
    let membership: Membership
    private(set) var dealers: [InMemoryTransport] = []

    init(examples: Int = 12, shards: Int, settings: PoolSettings = Fixtures.settings()) throws {
        plan = try ShardPlan(exampleCount: examples, shards: shards)
        let outbox = WorkerOutbox(transport: router)
        membership = Membership(
            settings: settings, shape: Fixtures.shape, plan: plan, outbox: outbox, supervisor: nil,
            log: Fixtures.silent)
    }

    /// A new DEALER says HELLO as `name`; returns whether it was welcomed.
    @discardableResult
    func registerWorker(
        _ name: String, version: UInt16 = WireProtocol.protocolVersion,
        profile: ArithmeticProfile = .current(threads: 1)
    ) -> Bool {
        let dealer = router.connectDealer()
        dealers.append(dealer)
        return membership.register(
            dealer.peerID!, .success(.hello(Hello(protocolVersion: version, name: name, profile: profile))),
            address: nil)
    }

    /// Each shard's owner, by rank.
    var owners: [Int?] { membership.owner }

    func worker(rank: Int) -> PoolWorker? {
        membership.workers.first { $0.rank == rank }
    }
}
