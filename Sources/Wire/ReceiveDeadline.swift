/// When a receive that waits `timeoutMilliseconds` (0 = poll, -1 = forever) must give up, for a
/// wait made of several shorter ones.
struct ReceiveDeadline {
    private let timeoutMilliseconds: Int
    private let end: ContinuousClock.Instant?

    init(timeoutMilliseconds: Int) {
        self.timeoutMilliseconds = timeoutMilliseconds
        end = timeoutMilliseconds > 0 ? ContinuousClock.now + .milliseconds(timeoutMilliseconds) : nil
    }

    /// What is left of the wait, in whole milliseconds rounded up so a wait never ends early; 0
    /// once it has passed, -1 for ever.
    var remainingMilliseconds: Int {
        guard let end else { return timeoutMilliseconds }
        let left = ContinuousClock.now.duration(to: end).components
        guard left.seconds >= 0, left.attoseconds >= 0 else { return 0 }
        let millisecond: Int64 = 1_000_000_000_000_000
        return Int(left.seconds * 1000 + (left.attoseconds + millisecond - 1) / millisecond)
    }
}
