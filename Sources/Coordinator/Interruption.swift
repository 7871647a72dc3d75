import Foundation
import Synchronization

/// SIGINT and SIGTERM, turned into an error the loops throw at their next check, so that every
/// exit path — Ctrl-C included — runs the same clean-up (workers stopped, nothing half-written).
enum Interruption {
    private static let arrived = Atomic<Int32>(0)

    static func install() {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { number in Interruption.arrived.store(number, ordering: .relaxed) }
            sigaddset(&mask, signalNumber)
        }
        // A parent may have blocked them (test runners do, and children inherit the mask).
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
    }

    /// Whether SIGINT or SIGTERM has come.
    static var received: Bool { Self.arrived.load(ordering: .relaxed) != 0 }

    static func check() throws {
        let signalNumber = Self.arrived.load(ordering: .relaxed)
        if signalNumber != 0 { throw CoordinatorError.interrupted(signal: signalNumber) }
    }
}
