import Wire

/// What the coordinator knows of one registered worker: who it is, which shards it hosts, which
/// of them it has confirmed holding (SHARD_READY), and when it was last heard from.
final class PoolWorker {
    let peer: PeerID
    let rank: Int
    let name: String
    /// The worker's IP address (TCP), for logs.
    let address: String?
    /// Where it takes parameters from a parent in the broadcast tree; empty when it does not relay.
    let relayEndpoint: String
    /// How logs name it: "local-0" or "node7:4411 at 10.0.0.7".
    var label: String { address.map { "\(name) at \($0)" } ?? name }
    var shards: Set<Int> = []
    var ready: Set<Int> = []
    /// Shards on their way here from a slower worker, which computes them until they are ready here.
    var incoming: Set<Int> = []
    var lastHeard = ContinuousClock.now
    /// When its last partial arrived, for whatever step; nil before the first.
    var lastPartial: ContinuousClock.Instant?
    /// Whether it has done anything since its WELCOME (a SHARD_READY or a PARTIAL): a HELLO from
    /// a worker that has not is the same registration knocking again (hellos it queued while its
    /// coordinator was down, or sent before the WELCOME reached it), not a new one.
    var hasSpoken = false
    /// Its secret for joining the reducers (`--reducers`): a reducer takes pieces only from
    /// workers whose token the coordinator names for the step.
    let token = UInt64.random(in: 1...UInt64.max)
    /// Whether it has been told the reducers (REDUCERS).
    var toldReducers = false
    /// How the log last said this worker's frames travel.
    var loggedRoute: String?
    /// Examples per second of compute, averaged over its recent partials; nil before the first.
    private(set) var examplesPerSecond: Double?

    /// Counts one partial's compute: `examples` in `seconds`.
    func recordCompute(seconds: Double, examples: Int) {
        guard seconds > 0, seconds.isFinite, examples > 0 else { return }
        let speed = Double(examples) / seconds
        examplesPerSecond = examplesPerSecond.map { 0.8 * $0 + 0.2 * speed } ?? speed
    }

    init(peer: PeerID, rank: Int, name: String, address: String?, relayEndpoint: String = "") {
        self.peer = peer
        self.rank = rank
        self.name = name
        self.address = address
        self.relayEndpoint = relayEndpoint
    }
}
