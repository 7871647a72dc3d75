import Core
import Wire

/// Everything the pool sends to its workers: the one place the pool's parts write to the
/// transport.
final class WorkerOutbox {
    private let transport: any CoordinatorTransport

    init(transport: any CoordinatorTransport) {
        self.transport = transport
    }

    func send(_ message: Message, to peer: PeerID) throws(WireError) {
        try transport.send(message, to: peer)
    }

    func send(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) {
        try transport.send(frames, to: peer)
    }

    /// Sends a step's PARAMS to `peer` as the transport delivers them to it; returns the bytes sent.
    func send(_ params: OutgoingParams, to peer: PeerID) throws(WireError) -> Int {
        try transport.send(params, to: peer)
    }

    /// Sends `frames` if `peer`'s queue has room; false, sending nothing, if it is full.
    func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) -> Bool {
        try transport.sendIfRoom(frames, to: peer)
    }

    /// How frames to and from `peer` travel, for the log, when not simply through the transport.
    func route(to peer: PeerID) -> String? {
        transport.route(to: peer)
    }

    /// Lets go of what the transport keeps for `peer`, which is gone.
    func forget(_ peer: PeerID) {
        transport.forget(peer)
    }

    /// Closes the transport; nothing is sent or received after.
    func close() {
        transport.close()
    }
}
