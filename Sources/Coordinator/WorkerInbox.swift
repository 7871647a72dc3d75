import Core
import Wire

/// What the pool receives from its workers: one message at a time, decoded, with its sender. The
/// one place the pool's parts read from the transport.
final class WorkerInbox {
    /// A message as it arrived: its decoding failed when it is a `.failure`.
    struct Arrival {
        let peer: PeerID
        let address: String?
        let message: Result<Message, WireError>
        /// The message's size on the wire.
        let bytes: Int
    }

    private let transport: any CoordinatorTransport

    init(transport: any CoordinatorTransport) {
        self.transport = transport
    }

    /// Waits up to `timeout` for a message from a peer; nil when none came.
    func receive(timeout: Duration) throws(WireError) -> Arrival? {
        guard let envelope = try transport.receive(timeoutMilliseconds: timeout.inMilliseconds),
            let peer = envelope.peer
        else { return nil }
        return Arrival(
            peer: peer, address: envelope.address,
            message: transport.decode(envelope),
            bytes: envelope.byteCount)
    }

    /// Bytes received through shared memory so far.
    var sharedBytesReceived: Int { transport.sharedMemoryCounters.bytesReceived }
}
