import Testing

@testable import Coordinator

@Suite struct BackupTests {
    @Test func aStepIsDueAfterTheLongerOfTheSettingAndFourUsualSteps() {
        let start = ContinuousClock.now
        let backup = Backup(after: .milliseconds(250))
        #expect(backup.due(started: start, typicalSeconds: nil) == start + .milliseconds(250))
        #expect(backup.due(started: start, typicalSeconds: 0.01) == start + .milliseconds(250))
        #expect(backup.due(started: start, typicalSeconds: 0.5) == start + .seconds(2))
        #expect(Backup(after: nil).due(started: start, typicalSeconds: 0.5) == nil)
    }

    /// A silent worker becomes a suspect once; it stops being one when it answers; a suspect
    /// that has not answered for the timeout is named, to be lost.
    @Test func aSuspectIsClearedByAnAnswerAndNamedOnceItHasBeenSilentTooLong() {
        var backup = Backup(after: .milliseconds(250))
        let start = ContinuousClock.now
        #expect(backup.computed(4, silent: [1], now: start) == [1])
        #expect(backup.computed(4, silent: [1, 2], now: start + .seconds(1)) == [2])
        #expect(backup.shards == 8)
        #expect(backup.isSuspect(1) && backup.isSuspect(2) && !backup.isSuspect(0))
        #expect(backup.unanswered(for: .seconds(10), now: start + .seconds(10.5)) == [1])
        #expect(backup.unanswered(for: .seconds(10), now: start + .seconds(11.5)) == [1, 2])
        #expect(backup.answered(1) && !backup.answered(1))
        #expect(!backup.isSuspect(1))
        #expect(backup.unanswered(for: .seconds(10), now: start + .seconds(20)) == [2])
    }
}
