import ArgumentParser
import Wire

/// How a step's parameters reach the workers (`--broadcast`).
enum BroadcastMode: String, CaseIterable, ExpressibleByArgument {
    /// The tree once two or more workers offer a relay (`worker --relay`); direct otherwise.
    case auto
    /// The coordinator sends every worker the whole parameters: N vectors through its link.
    case direct
    /// Workers that offer a relay form a fixed tree: the coordinator sends one of them the
    /// parameters in pieces, and each forwards every piece to its children as it arrives.
    case tree
    /// With `--reducers S`: each reducer sends the workers its range of W, b itself, the
    /// coordinator range 0, so no vector goes whole through any one link.
    case reducers
}

/// The broadcast tree (`--broadcast tree`): which worker forwards each step's parameters to
/// which, so that the coordinator sends one parameter vector a step however many workers there
/// are. The tree is a fixed function of the workers that offer a relay, ordered by rank: position
/// 0 takes the pieces from the coordinator, position p > 0 from position (p − 1) / fanout. A
/// worker's place is told it (RELAY) whenever it changes; in the step it changes, the worker also
/// gets the whole parameters directly, so no piece it might miss while the tree is rebuilt can
/// stall it. Workers that offer no relay (local workers, shared memory) are always sent directly.
///
/// The tree changes nothing a worker computes: every worker holds the same parameters, bit for
/// bit, however they reached it.
final class Broadcast {
    let mode: BroadcastMode
    let fanout: Int
    /// Tree members by rank: the parent's rank, nil for the member the coordinator sends to.
    private(set) var parent: [Int: Int?] = [:]
    /// What each worker was last told, with its parent's rank: a worker is told again, and sent
    /// the whole parameters for a step, only when its place changes.
    private var told: [Int: Place] = [:]
    /// Members whose place changed at the last `arrange`, and members sent the whole parameters
    /// since, this step.
    private var servedWhole: Set<Int> = []

    private struct Place: Equatable {
        let relay: Relay
        let parent: Int?
    }

    /// The place of a worker outside the tree.
    private static let outside = Place(relay: Relay(parentAddress: "", children: []), parent: nil)

    init(mode: BroadcastMode, fanout: Int) {
        self.mode = mode
        self.fanout = max(1, fanout)
    }

    /// Each position's parent position in a tree of `count` members with `fanout` children a
    /// member (nil: the coordinator, for position 0).
    static func parents(count: Int, fanout: Int) -> [Int?] {
        (0..<count).map { $0 == 0 ? nil : ($0 - 1) / fanout }
    }

    /// Rebuilds the tree over `workers` (those that may relay: answering, not suspects) and tells
    /// every worker whose place changed (RELAY). Returns the workers that could not be reached.
    func arrange(_ workers: [PoolWorker], outbox: WorkerOutbox) -> [PoolWorker] {
        let offering = workers.filter { !$0.relayEndpoint.isEmpty && $0.address != nil }.sorted { $0.rank < $1.rank }
        let members = (mode == .tree && !offering.isEmpty) || (mode == .auto && offering.count >= 2) ? offering : []
        let positions = Self.parents(count: members.count, fanout: fanout)
        var places: [Int: Place] = [:]
        parent = [:]
        for (position, worker) in members.enumerated() {
            let up = positions[position].map { members[$0] }
            let children = members.indices.filter { positions[$0] == position }.map { members[$0].relayEndpoint }
            places[worker.rank] = Place(
                relay: Relay(parentAddress: up?.address ?? "", children: children), parent: up?.rank)
            parent[worker.rank] = .some(up?.rank)
        }
        servedWhole = []
        var unreachable: [PoolWorker] = []
        for worker in workers {
            // A worker that leaves the tree is told so: it forwards to nobody and takes no pieces.
            let place = places[worker.rank] ?? told[worker.rank].map { _ in Self.outside }
            guard let place, told[worker.rank] != place else { continue }
            do {
                try outbox.send(.relay(place.relay), to: worker.peer)
                told[worker.rank] = places[worker.rank]
                // Its pieces may have been sent or forwarded before it knew its place.
                if places[worker.rank]?.parent != nil { servedWhole.insert(worker.rank) }
            } catch {
                unreachable.append(worker)
            }
        }
        let present = Set(workers.map(\.rank))
        told = told.filter { present.contains($0.key) }
        // Below a worker sent the whole parameters, pieces may not be forwarded this step either.
        servedWhole.formUnion(parent.keys.filter { isDownstream(of: servedWhole, $0) })
        return unreachable
    }

    /// How `worker` takes the step's parameters when first asked for its shards this step.
    enum Route {
        /// A whole PARAMS from the coordinator.
        case whole
        /// PARAMS_PART pieces from the coordinator, which it forwards down the tree.
        case pieces
        /// Nothing from the coordinator: the pieces come down the tree.
        case relayed
        /// Range 0 from the coordinator; the others come from their reducers (`--broadcast reducers`).
        case rangeZero
    }

    func route(_ rank: Int) -> Route {
        if mode == .reducers { return .rangeZero }
        return switch parent[rank] {
        case .none: .whole
        case .some(.none): .pieces
        case .some(.some): servedWhole.contains(rank) ? .whole : .relayed
        }
    }

    /// Members below a worker that is gone or `stalled` (a suspect, which may not be forwarding):
    /// their pieces may never come. Each is named once a step, and should be sent the whole
    /// parameters.
    func orphans(present: Set<Int>, stalled: Set<Int>) -> [Int] {
        let blocked = parent.keys.filter { rank in
            guard !servedWhole.contains(rank), present.contains(rank) else { return false }
            var up = parent[rank] ?? nil
            while let ancestor = up {
                if !present.contains(ancestor) || stalled.contains(ancestor) { return true }
                up = parent[ancestor] ?? nil
            }
            return false
        }
        servedWhole.formUnion(blocked)
        return blocked.sorted()
    }

    /// Whether `rank`'s pieces come through a worker in `silent`: then its own silence is not its fault.
    func isDownstream(of silent: Set<Int>, _ rank: Int) -> Bool {
        var up = parent[rank] ?? nil
        while let ancestor = up {
            if silent.contains(ancestor) { return true }
            up = parent[ancestor] ?? nil
        }
        return false
    }
}
