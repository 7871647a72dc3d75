import Dispatch
import Logging
import Wire

@testable import Worker

/// A real worker — `CoordinatorLink` and `WorkerLoop`, as the `worker` executable runs them — on a
/// thread of its own, talking through `transport` (a DEALER, or a layer over one).
///
/// `@unchecked Sendable`: `transport` is handed to the thread once; `errorUnlocked` is guarded by `lock`.
final class WorkerThread: @unchecked Sendable {
    /// The DEALER under `transport`: closing it is how a test stops this worker from outside.
    let dealer: InMemoryTransport
    private let transport: any WorkerTransport
    private let ended = DispatchSemaphore(value: 0)
    private let lock = Lock()
    private var errorUnlocked: Error?

    /// Starts a worker that registers as `name` through `transport`, over `dealer`.
    init(name: String, dealer: InMemoryTransport, transport: any WorkerTransport) {
        self.dealer = dealer
        self.transport = transport
        detachThread { [self] in serve(name: name) }
    }

    /// Why the worker's loop ended, if it threw; nil while it runs, or when it ended on a goodbye.
    var error: Error? { lock.withLock { errorUnlocked } }

    /// Waits up to `timeout` for the loop to end; false if it is still running.
    func join(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        return ended.wait(timeout: .now() + .milliseconds(milliseconds)) == .success
    }

    private func serve(name: String) {
        defer { ended.signal() }
        do {
            let link = try CoordinatorLink(
                transport: transport, endpoint: "memory://router", name: name, encrypted: false,
                registerTimeout: .seconds(10), reconnectTimeout: .seconds(10), parentPID: nil)
            // Stops the link's heartbeat thread however the loop ends.
            defer { link.close() }
            try WorkerLoop(link: link, log: Logger(label: name) { _ in SwiftLogNoOpLogHandler() }).run()
        } catch {
            lock.withLock { errorUnlocked = error }
        }
    }
}
