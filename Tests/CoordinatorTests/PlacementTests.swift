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
