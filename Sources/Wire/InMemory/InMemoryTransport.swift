#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A transport inside one process, for tests that drive a coordinator and its workers together:
/// one ROUTER and any number of DEALERs joined by queues, with ZeroMQ's semantics as the roles
/// use them.
///
/// The ROUTER sees each DEALER's `PeerID` on what it receives and replies by it; sending to a
/// closed or unknown DEALER throws `WireError.peerUnreachable` (as with ZMQ_ROUTER_MANDATORY).
/// A DEALER's sends to a closed ROUTER are dropped, as ZeroMQ drops them when the connection
/// is gone. Queues have no bound, so `sendIfRoom` always finds room. Frames are delivered
/// unchanged, so tests can inject damaged ones; each envelope names this process as its sender,
/// so a `SharedMemoryRouter` and `SharedMemoryDealer` work over it too.
///
/// `@unchecked Sendable`: all mutable state lives in the shared `Switchboard`, under its lock.
public final class InMemoryTransport: CoordinatorTransport, WorkerTransport, @unchecked Sendable {
    private let switchboard: Switchboard
    /// Which queue is this endpoint's inbox; the ROUTER's is `Switchboard.routerAddress`.
    private let address: Int

    private init(switchboard: Switchboard, address: Int) {
        self.switchboard = switchboard
        self.address = address
    }

    /// A new ROUTER with no DEALERs yet; add them with `connect()`.
    public static func router() -> InMemoryTransport {
        InMemoryTransport(switchboard: Switchboard(), address: Switchboard.routerAddress)
    }

    /// A ROUTER and one DEALER connected to it.
    public static func pair() -> (router: InMemoryTransport, dealer: InMemoryTransport) {
        let router = router()
        return (router, router.connectDealer())
    }

    /// A new DEALER connected to this ROUTER.
    public func connectDealer() -> InMemoryTransport {
        precondition(address == Switchboard.routerAddress, "DEALERs connect to a ROUTER, not to a DEALER")
        return InMemoryTransport(switchboard: switchboard, address: switchboard.addDealer())
    }

    /// The identity the ROUTER sees on this DEALER's messages; nil for the ROUTER.
    public var peerID: PeerID? {
        address == Switchboard.routerAddress ? nil : Switchboard.peerID(of: address)
    }

    /// A name for the ROUTER's end, for logs; nil on a DEALER.
    public var boundEndpoint: String? {
        address == Switchboard.routerAddress ? "memory://router" : nil
    }

    /// A ROUTER's send.
    public func send(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) {
        try send(frames, to: Optional(peer))
    }

    public func sendIfRoom(_ frames: [[UInt8]], to peer: PeerID) throws(WireError) -> Bool {
        try send(frames, to: Optional(peer))
        return true
    }

    /// A DEALER's send.
    public func send(_ frames: [[UInt8]]) throws(WireError) {
        try send(frames, to: nil)
    }

    private func send(_ frames: [[UInt8]], to peer: PeerID?) throws(WireError) {
        guard !frames.isEmpty else { throw .emptyMessage }
        if address == Switchboard.routerAddress {
            guard let peer else { throw .misaddressed("a ROUTER must name the peer to send to") }
            try switchboard.send(frames, from: address, to: peer)
        } else {
            guard peer == nil else { throw .misaddressed("a DEALER has one peer and takes none") }
            try switchboard.send(frames, from: address, to: nil)
        }
    }

    public func receive(timeoutMilliseconds: Int) throws(WireError) -> Envelope? {
        try switchboard.receive(at: address, timeoutMilliseconds: timeoutMilliseconds)
    }

    public func close() {
        switchboard.close(address)
    }

    deinit {
        close()
    }
}
