import Testing

@testable import Coordinator

@Suite struct PlacementTests {
    @Test func initialBlocksAreContiguousAndEven() {
        #expect(Placement.initialBlocks(shardCount: 4, workerCount: 4) == [0, 1, 2, 3])
        #expect(Placement.initialBlocks(shardCount: 5, workerCount: 2) == [0, 0, 0, 1, 1])
        #expect(Placement.initialBlocks(shardCount: 7, workerCount: 3) == [0, 0, 0, 1, 1, 2, 2])
        #expect(Placement.initialBlocks(shardCount: 3, workerCount: 1) == [0, 0, 0])
    }

    @Test func theLeastLoadedAdoptsTheLowestRankOnTies() {
        #expect(Placement.adopter(loads: [0: 3, 1: 2, 2: 2]) == 1)
        #expect(Placement.adopter(loads: [4: 1, 2: 5]) == 4)
        #expect(Placement.adopter(loads: [:]) == nil)
    }

    @Test func aJoinerTakesTheHighestShardsOfTheMostLoaded() {
        let moves = Placement.donations(to: 2, holdings: [0: [0, 1, 2, 3], 1: [4, 5, 6, 7], 2: []])
        // 4 and 4: the higher rank gives first; then rank 0 (4 against 3); then 3, 3 and 2 stay.
        #expect(moves.map(\.shard) == [7, 3])
        #expect(moves.map(\.donor) == [1, 0])
    }

    @Test func aJoinerTakesNothingFromWorkersWithOneShardEach() {
        #expect(Placement.donations(to: 3, holdings: [0: [0], 1: [1], 2: [2], 3: []]).isEmpty)
        // Two against none: one moves, then one each is even.
        #expect(Placement.donations(to: 1, holdings: [0: [0, 1], 1: []]).map(\.shard) == [1])
    }
}

/// Shards follow the compute: moves by measured speed, with a margin against noise.
@Suite("Placement by speed")
struct PlacementBySpeedTests {
    /// Applies rebalance until it proposes nothing; returns the holdings and the moves made.
    static func settle(
        _ holdings: [Int: Set<Int>], sizes: [Int], speeds: [Int: Double]
    ) -> (holdings: [Int: Set<Int>], moves: Int) {
        var holdings = holdings
        var moves = 0
        while let move = Placement.rebalance(holdings: holdings, sizes: sizes, speeds: speeds), moves < 100 {
            holdings[move.from]?.remove(move.shard)
            holdings[move.to, default: []].insert(move.shard)
            #expect(move.slowestAfter < move.slowestBefore * 0.9)
            moves += 1
        }
        return (holdings, moves)
    }

    static let even: [Int: Set<Int>] = [0: [0, 1, 2, 3], 1: [4, 5, 6, 7]]
    static let sizes = Array(repeating: 128, count: 8)

    @Test func equalSpeedsMoveNothing() {
        #expect(Placement.rebalance(holdings: Self.even, sizes: Self.sizes, speeds: [0: 1000, 1: 1000]) == nil)
        // 5% apart: inside the margin.
        #expect(Placement.rebalance(holdings: Self.even, sizes: Self.sizes, speeds: [0: 1000, 1: 950]) == nil)
    }

    @Test func aHalfSpeedWorkerKeepsAThirdAndPlacementStaysPut() {
        let speeds: [Int: Double] = [0: 1000, 1: 500]
        let (settled, moves) = Self.settle(Self.even, sizes: Self.sizes, speeds: speeds)
        #expect(moves >= 1)
        #expect(settled[1]?.count == 3 && settled[0]?.count == 5, "capacities 2:1 of 8 shards: \(settled)")
        #expect(Placement.rebalance(holdings: settled, sizes: Self.sizes, speeds: speeds) == nil, "it stays put")
    }

    @Test func shardsMoveBackWhenTheWorkerRecovers() {
        let slowed = Self.settle(Self.even, sizes: Self.sizes, speeds: [0: 1000, 1: 500]).holdings
        let recovered = Self.settle(slowed, sizes: Self.sizes, speeds: [0: 1000, 1: 1000]).holdings
        #expect(recovered[0]?.count == 4 && recovered[1]?.count == 4, "\(recovered)")
    }

    @Test func aWorkerNeverLosesItsLastShardAndUnmeasuredWorkersStayPut() {
        let holdings: [Int: Set<Int>] = [0: [0], 1: [1]]
        #expect(Placement.rebalance(holdings: holdings, sizes: [10, 10], speeds: [0: 1, 1: 1000]) == nil)
        #expect(Placement.rebalance(holdings: Self.even, sizes: Self.sizes, speeds: [0: 1000]) == nil)
    }
}
