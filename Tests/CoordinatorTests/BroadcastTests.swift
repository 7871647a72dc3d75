import Core
import Testing
import Wire

@testable import Coordinator

/// The broadcast tree's shape and bookkeeping: who takes the parameters from whom, who is told
/// (RELAY) and when, and who must be sent them whole.
@Suite struct BroadcastTests {
    let router = InMemoryTransport.router()
    let outbox: WorkerOutbox
    var dealers: [InMemoryTransport] = []
    var workers: [PoolWorker] = []

    init() {
        outbox = WorkerOutbox(transport: router)
        for rank in 0..<5 {
            let dealer = router.connectDealer()
            dealers.append(dealer)
            // Rank 4 offers no relay (a local worker).
            workers.append(
                PoolWorker(
                    peer: dealer.peerID!, rank: rank, name: "w\(rank)", address: "10.0.0.\(rank + 1)",
                    relayEndpoint: rank == 4 ? "" : "tcp://10.0.0.\(rank + 1):5600"))
        }
    }

    private func relays(_ index: Int) throws -> [Relay] {
        try Fixtures.drain(dealers[index]).compactMap { if case .relay(let relay) = $0 { relay } else { nil } }
    }

    @Test func positionsFormAFixedTree() {
        #expect(Broadcast.parents(count: 7, fanout: 2) == [nil, 0, 0, 1, 1, 2, 2])
        #expect(Broadcast.parents(count: 4, fanout: 1) == [nil, 0, 1, 2])
        #expect(Broadcast.parents(count: 0, fanout: 2).isEmpty)
    }

    @Test func eachWorkerIsToldItsPlaceOnceAndOnlyRelaysJoin() throws {
        let broadcast = Broadcast(mode: .tree, fanout: 2)
        #expect(broadcast.arrange(workers, outbox: outbox).isEmpty)
        #expect(try relays(0) == [Relay(parentAddress: "", children: ["tcp://10.0.0.2:5600", "tcp://10.0.0.3:5600"])])
        #expect(try relays(1) == [Relay(parentAddress: "10.0.0.1", children: ["tcp://10.0.0.4:5600"])])
        #expect(try relays(2) == [Relay(parentAddress: "10.0.0.1", children: [])])
        #expect(try relays(3) == [Relay(parentAddress: "10.0.0.2", children: [])])
        #expect(try relays(4).isEmpty)
        #expect(broadcast.route(0) == .pieces && broadcast.route(4) == .whole)
        // Placed just now: sent whole this step, in case their first pieces went astray.
        #expect(broadcast.route(1) == .whole && broadcast.route(3) == .whole)

        // Unchanged: nobody is told again, and the pieces come down the tree.
        _ = broadcast.arrange(workers, outbox: outbox)
        #expect(try (0..<5).allSatisfy { try relays($0).isEmpty })
        #expect((1...3).allSatisfy { broadcast.route($0) == .relayed })
    }

    @Test func losingARelayReplacesItAndServesItsSubtreeWhole() throws {
        let broadcast = Broadcast(mode: .tree, fanout: 2)
        _ = broadcast.arrange(workers, outbox: outbox)
        _ = broadcast.arrange(workers, outbox: outbox)
        for index in 0..<5 { _ = try relays(index) }

        // Rank 1 dies mid-step: rank 3 below it must be sent the parameters; rank 2 need not.
        let present: Set<Int> = [0, 2, 3, 4]
        #expect(broadcast.orphans(present: present, stalled: []) == [3])
        #expect(broadcast.orphans(present: present, stalled: []).isEmpty, "an orphan is named once a step")
        // A suspect relay stalls its children as surely as a dead one.
        #expect(broadcast.orphans(present: [0, 1, 2, 3, 4], stalled: [0]) == [1, 2])
        #expect(broadcast.isDownstream(of: [0], 3) && !broadcast.isDownstream(of: [2], 3))

        // At the next step the tree closes over the gap: rank 3 moves up under rank 0.
        let survivors = workers.filter { $0.rank != 1 }
        _ = broadcast.arrange(survivors, outbox: outbox)
        #expect(try relays(0) == [Relay(parentAddress: "", children: ["tcp://10.0.0.3:5600", "tcp://10.0.0.4:5600"])])
        #expect(try relays(3) == [Relay(parentAddress: "10.0.0.1", children: [])])
        #expect(try relays(2).isEmpty)
        #expect(broadcast.route(3) == .whole && broadcast.route(2) == .relayed)
    }

    @Test func autoNeedsTwoRelaysAndDirectNeverBuildsATree() throws {
        let auto = Broadcast(mode: .auto, fanout: 2)
        _ = auto.arrange([workers[0], workers[4]], outbox: outbox)
        #expect(auto.route(0) == .whole)
        _ = auto.arrange([workers[0], workers[1], workers[4]], outbox: outbox)
        #expect(auto.route(0) == .pieces && auto.route(1) == .whole)

        let direct = Broadcast(mode: .direct, fanout: 2)
        _ = direct.arrange(workers, outbox: outbox)
        #expect((0..<5).allSatisfy { direct.route($0) == .whole })
    }

    /// A worker that leaves the tree (auto mode, one relay left) is told to forward to nobody.
    @Test func aWorkerLeavingTheTreeIsToldSo() throws {
        let auto = Broadcast(mode: .auto, fanout: 2)
        _ = auto.arrange([workers[0], workers[1]], outbox: outbox)
        _ = try relays(0)
        _ = auto.arrange([workers[0]], outbox: outbox)
        #expect(try relays(0) == [Relay(parentAddress: "", children: [])])
        #expect(auto.route(0) == .whole)
    }
}
