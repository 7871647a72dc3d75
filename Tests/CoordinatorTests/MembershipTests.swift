import Core
import Testing
import Wire

@testable import Coordinator

@Suite struct MembershipTests {
    @Test func aHelloOfOurVersionIsWelcomedWithTheNextRank() throws {
        let fixture = try MembershipFixture(shards: 2)
        #expect(fixture.registerWorker("w0"))
        #expect(fixture.registerWorker("w1"))
        #expect(fixture.membership.joiners.map(\.rank) == [0, 1])
        for (rank, dealer) in fixture.dealers.enumerated() {
            let messages = try Fixtures.drain(dealer)
            guard case .welcome(let welcome) = messages.first else {
                Issue.record("no WELCOME for rank \(rank): \(messages)")
                continue
            }
            #expect(welcome.rank == UInt32(rank))
            #expect(welcome.layers == [3, 4, 2])
        }
    }

    /// `--local-workers`: `local-k` is rank k whichever registers first, and the workers (and
    /// their blocks of shards) go in rank order; a name outside the run's local workers, or a
    /// rank already given, takes the lowest rank never given. Without local names, arrival order.
    @Test func localWorkersTakeTheRankOfTheirName() throws {
        var settings = Fixtures.settings()
        (settings.expectedWorkers, settings.rankedNames) = (3, ["local-0", "local-1", "local-2"])
        let fixture = try MembershipFixture(shards: 6, settings: settings)
        for name in ["local-2", "local-0", "local-2", "local-9", "w"] { fixture.registerWorker(name) }
        #expect(fixture.membership.joiners.map(\.rank) == [2, 0, 1, 3, 4])
        for (dealer, rank) in zip(fixture.dealers, [2, 0, 1, 3, 4]) {
            guard case .welcome(let welcome) = try Fixtures.drain(dealer).first else {
                Issue.record("no WELCOME for rank \(rank)")
                continue
            }
            #expect(welcome.rank == UInt32(rank))
        }
        fixture.membership.promoteJoiners()
        #expect(fixture.membership.workers.map(\.rank) == [0, 1, 2, 3, 4])
        #expect(fixture.membership.workers.map(\.name) == ["local-0", "local-2", "local-2", "local-9", "w"])
        fixture.membership.place(Fixtures.dataset(count: 12))
        #expect(fixture.worker(rank: 0)?.name == "local-0")
        #expect(fixture.owners.first == 0, "the first block goes to local-0")

        settings.rankedNames = []
        let arrival = try MembershipFixture(shards: 2, settings: settings)
        for name in ["local-1", "local-0"] { arrival.registerWorker(name) }
        #expect(arrival.membership.joiners.map(\.rank) == [0, 1])
    }

    @Test func anotherProtocolVersionIsRefused() throws {
        let fixture = try MembershipFixture(shards: 2)
        #expect(!fixture.registerWorker("old", version: WireProtocol.protocolVersion &+ 1))
        #expect(fixture.membership.joiners.isEmpty)
        let messages = try Fixtures.drain(fixture.dealers[0])
        guard case .refuse(let refuse) = messages.first else {
            Issue.record("no REFUSE: \(messages)")
            return
        }
        #expect(refuse.reason.contains("protocol version"))
    }

    @Test func anythingButAHelloFromAStrangerIsNotWelcomed() throws {
        let fixture = try MembershipFixture(shards: 1)
        let stranger = fixture.router.connectDealer()
        #expect(!fixture.membership.register(stranger.peerID!, .success(.heartbeat(Heartbeat(step: 0))), address: nil))
        #expect(try Fixtures.drain(stranger).isEmpty)
    }

    /// Three workers, six shards in blocks of two; worker 1 goes, and its shards go to the least
    /// loaded survivors, the lowest rank first on ties, with their data.
    @Test func aLostWorkersShardsMoveToTheLeastLoaded() throws {
        let fixture = try MembershipFixture(shards: 6)
        for name in ["w0", "w1", "w2"] { fixture.registerWorker(name) }
        fixture.membership.promoteJoiners()
        fixture.membership.place(Fixtures.dataset(count: 12))
        #expect(fixture.owners == [0, 0, 1, 1, 2, 2])
        for dealer in fixture.dealers { _ = try Fixtures.drain(dealer) }

        let lost = try #require(fixture.worker(rank: 1))
        fixture.membership.lose(lost, reason: "a test")
        #expect(fixture.owners == [0, 0, 0, 2, 2, 2])
        #expect(fixture.membership.workers.map(\.rank) == [0, 2])
        #expect(fixture.membership.lost == 1)
        #expect(try shardsSent(to: fixture.dealers[0]) == [2])
        #expect(try shardsSent(to: fixture.dealers[2]) == [3])
        #expect(fixture.membership.firstUnready == 0, "nothing is ready before SHARD_READY")
    }

    @Test func shardsWaitForTheirOwnersAcknowledgement() throws {
        let fixture = try MembershipFixture(shards: 2)
        fixture.registerWorker("w0")
        fixture.membership.promoteJoiners()
        fixture.membership.place(Fixtures.dataset(count: 12))
        let worker = try #require(fixture.worker(rank: 0))
        #expect(!fixture.membership.markReady(shardID: 0, examples: 5, by: worker), "a wrong example count")
        #expect(!fixture.membership.markReady(shardID: 2, examples: 6, by: worker), "a shard beyond the plan")
        #expect(fixture.membership.markReady(shardID: 0, examples: 6, by: worker))
        #expect(fixture.membership.firstUnready == 1)
        #expect(fixture.membership.markReady(shardID: 1, examples: 6, by: worker))
        #expect(fixture.membership.firstUnready == nil)
    }

    @Test func aJoinerTakesShardsAtAStepBoundary() throws {
        let fixture = try MembershipFixture(shards: 4)
        for name in ["w0", "w1"] { fixture.registerWorker(name) }
        fixture.membership.promoteJoiners()
        fixture.membership.place(Fixtures.dataset(count: 12))
        fixture.registerWorker("late")
        #expect(fixture.owners == [0, 0, 1, 1], "a joiner takes nothing before the step boundary")
        _ = try Fixtures.drain(fixture.dealers[2])

        fixture.membership.admitJoiners()
        #expect(fixture.owners == [0, 0, 1, 2])
        #expect(fixture.worker(rank: 1)?.shards == [2])
        #expect(try shardsSent(to: fixture.dealers[2]) == [3])
    }

    @Test func aSilentWorkerIsLost() throws {
        var settings = Fixtures.settings(workerTimeout: .seconds(1))
        settings.heartbeat = .zero
        let fixture = try MembershipFixture(shards: 2, settings: settings)
        for name in ["w0", "w1"] { fixture.registerWorker(name) }
        fixture.membership.promoteJoiners()
        fixture.membership.place(Fixtures.dataset(count: 12))
        let silent = try #require(fixture.worker(rank: 1))
        silent.lastHeard = .now - .seconds(2)
        fixture.membership.checkLiveness(step: 3)
        #expect(fixture.membership.workers.map(\.rank) == [0])
        #expect(fixture.owners == [0, 0])
        let beats = try Fixtures.drain(fixture.dealers[0]).filter { if case .heartbeat = $0 { true } else { false } }
        #expect(beats == [.heartbeat(Heartbeat(step: 3))])
    }

    @Test func belowTheMinimumThePoolGivesUpAfterTheRegisterTimeout() async throws {
        let fixture = try MembershipFixture(shards: 2, settings: Fixtures.settings(minWorkers: 2))
        fixture.registerWorker("w0")
        fixture.membership.promoteJoiners()
        fixture.membership.place(Fixtures.dataset(count: 12))
        try fixture.membership.checkMinimum()
        try await Task.sleep(for: .milliseconds(80))
        #expect(throws: CoordinatorError.self) { try fixture.membership.checkMinimum() }
    }

    @Test func orphansWaitForAJoinerWhenEveryWorkerIsLost() throws {
        let fixture = try MembershipFixture(shards: 2)
        fixture.registerWorker("w0")
        fixture.membership.promoteJoiners()
        fixture.membership.place(Fixtures.dataset(count: 12))
        fixture.membership.lose(try #require(fixture.worker(rank: 0)), reason: "a test")
        #expect(fixture.owners == [nil, nil])
        fixture.registerWorker("w1")
        try fixture.membership.checkMinimum()
        #expect(fixture.owners == [1, 1])
    }

    /// The shards whose SHARD chunks wait at `dealer`, in order, each once.
    private func shardsSent(to dealer: InMemoryTransport) throws -> [Int] {
        var shards: [Int] = []
        for case .shard(let chunk) in try Fixtures.drain(dealer) where shards.last != Int(chunk.shardID) {
            shards.append(Int(chunk.shardID))
        }
        return shards
    }
}
