import CSharedMemory
import Foundation
import Testing

/// The futex barrier the local processes of `descent-bench local-step` step by
/// (`descent_barrier_wait`): no party passes before every party has arrived, round after round,
/// and a party left alone gives up at its timeout instead of hanging.
@Suite("Shared-memory barrier")
struct SharedBarrierTests {
    @Test("No party passes a round before every party has arrived", arguments: [0 as UInt32, 2_000])
    func partiesPassTogether(spins: UInt32) {
        let rounds = 400
        let memory = BarrierMemory(parties: 3)
        let group = DispatchGroup()
        for party in 0..<memory.parties {
            group.enter()
            Thread {
                defer { group.leave() }
                for round in 1...rounds { memory.round(round, party: party, spins: spins) }
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(memory.counts == (passes: memory.parties * rounds, failures: 0, lagging: 0))
    }

    @Test("Abandoning the barrier releases a waiting party at once, whether it waits yet or not")
    func abandoningReleasesTheWaiting() {
        let memory = BarrierMemory(parties: 2)
        let result = memory.waitAbandoned(by: 0.05)
        #expect(result == -3)
    }

    @Test("A party left alone gives up at its timeout")
    func aLonePartyTimesOut() {
        var words: [UInt32] = [0, 0]
        let result = descent_barrier_wait(&words, 2, 100, 20_000_000, nil)
        #expect(result == -1)
        #expect(words[1] == 0, "the generation did not move: nobody passed")
    }
}

/// The barrier's two words, each party's round, and what the parties saw, counted under a lock.
private final class BarrierMemory: @unchecked Sendable {
    let parties: Int
    private let words = UnsafeMutablePointer<UInt32>.allocate(capacity: 2)
    private let abandon = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    private let slots: UnsafeMutablePointer<UInt64>
    private let lock = NSLock()
    private var passes = 0
    private var failures = 0
    private var lagging = 0

    init(parties: Int) {
        self.parties = parties
        words.initialize(repeating: 0, count: 2)
        abandon.initialize(to: 0)
        slots = .allocate(capacity: parties)
        slots.initialize(repeating: 0, count: parties)
    }

    deinit {
        words.deallocate()
        abandon.deallocate()
        slots.deallocate()
    }

    /// Says the party reached `round`, passes the barrier, checks that every party has, and
    /// passes it again before anyone moves on.
    func round(_ round: Int, party: Int, spins: UInt32) {
        descent_store_release_u64(slots + party, UInt64(round))
        let first = descent_barrier_wait(words, UInt32(parties), spins, 10_000_000_000, nil)
        let late = (0..<parties).contains { descent_load_acquire_u64(slots + $0) < UInt64(round) }
        let second = descent_barrier_wait(words, UInt32(parties), spins, 10_000_000_000, nil)
        lock.lock()
        defer { lock.unlock() }
        passes += 1
        if first != 0 || second != 0 { failures += 1 }
        if late { lagging += 1 }
    }

    /// One party waits (for up to a minute) while another thread abandons the barrier after
    /// `seconds`; what the wait returned.
    func waitAbandoned(by seconds: Double) -> Int32 {
        Thread { [self] in
            Thread.sleep(forTimeInterval: seconds)
            descent_barrier_abandon(words, abandon)
        }.start()
        return descent_barrier_wait(words, UInt32(parties), 0, 60_000_000_000, abandon)
    }

    var counts: (passes: Int, failures: Int, lagging: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (passes, failures, lagging)
    }
}
