/// Memory shared with peers on this machine, as a layer over another transport (docs/PROTOCOL.md,
/// "Shared memory"): `SharedMemoryRouter` on the coordinator's side, `SharedMemoryDealer` on a
/// worker's. Each conforms to the protocol of the transport it wraps, so a role cannot tell.
///
/// The layer sets itself up with messages of its own that never reach the codec (`RegionHandshake`).
/// A worker offers a `SharedRegion`, two rings; large frames then travel through a ring, with a
/// reference in their place in the message, which still goes through the wrapped transport so
/// messages keep their order. The coordinator offers a `ParameterBoard`, and a worker that mapped it
/// takes each step's parameters from it when that step's STEP comes: no PARAMS message at all.
public enum SharedMemoryTransport {
    /// Frames of this many bytes or more go through a ring when it has room; smaller ones cost
    /// less through the socket than a reference does.
    static let frameBytes = 64 << 10

    /// Whether memory may be shared over a connection to `endpoint`: on ipc:// (one machine), and
    /// not with CURVE, whose encryption it would bypass.
    public static func applies(to endpoint: String, encrypted: Bool) -> Bool {
        endpoint.hasPrefix("ipc://") && !encrypted
    }
}
