/// Whether the pool's workers may take steps among themselves (`LocalStepRunner`).
extension WorkerPool {
    /// The workers, in rank order, when they can take a span of steps among themselves: every one
    /// started by this coordinator (`--local-workers`), holding at least one shard, every shard
    /// owned and ready where it is computed, none on its way elsewhere; no joiner waiting, no
    /// worker suspected of being late; partials in Float32 and no reducers. nil otherwise: the
    /// pool takes the step.
    func localParties() -> [PoolWorker]? {
        let workers = membership.workers
        guard reducers == nil, settings.compress == .float32, !settings.rankedNames.isEmpty,
            membership.joiners.isEmpty, !hasSuspects, membership.owner.allSatisfy({ $0 != nil }),
            workers.allSatisfy({
                settings.rankedNames.contains($0.name) && !$0.shards.isEmpty && $0.incoming.isEmpty
                    && $0.shards.isSubset(of: $0.ready)
            })
        else { return nil }
        return workers
    }
}
