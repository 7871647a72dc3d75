import Core
import Wire

/// What the pool does for `--reducers` beyond passing messages (`ReducerGroup`): shards a reducer
/// found poisoned, computed here, and the reducers' moments gathered for a checkpoint.
extension WorkerPool {
    /// A reducer found a piece from the worker holding `token` poisoned: as for a poisoned
    /// partial here, the coordinator computes those shards itself (the reducers take their
    /// pieces) and the worker is dropped.
    func overrule(
        _ poisoned: (token: UInt64, span: Range<Int>, reason: String), from member: ReducerGroup.Member,
        accumulator: GradientAccumulator?
    ) throws {
        guard let accumulator, let worker = membership.workers.first(where: { $0.token == poisoned.token }) else {
            return
        }
        try settle(poisoned.span, accumulator: accumulator)
        membership.lose(worker, reason: "it sent reducer \(member.rank) a bad partial: \(poisoned.reason)")
    }

    /// Computes the shards of `span` whose partials are not all in (`Arbiter`): the reducers are
    /// sent their pieces.
    func settle(_ span: Range<Int>, accumulator: GradientAccumulator) throws {
        guard let arbiter, let parameters = exchange.parameters else { return }
        try wholeParameters()
        let before = ContinuousClock.now
        for shard in span where !exchange.isIn(shard: shard, accumulator: accumulator) {
            guard let work = exchange.work[shard] else { continue }
            let examples = try arbiter.settle(
                work, step: exchange.step, parameters: parameters.values, into: accumulator)
            exchange.countSettled(examples: examples)
        }
        exchange.countReduce(.now - before)
    }

    // MARK: Checkpoints

    /// Gathers the reducers' moments of their ranges after `step` into `optimizer` (for a
    /// checkpoint).
    func gatherOptimizerState(into optimizer: Optimizer, step: Int) throws {
        guard reducers != nil, optimizer.firstMoment != nil else { return }
        try gather(step: step, parameters: nil, optimizer: optimizer)
    }

    /// With `--broadcast reducers`: the step's parameters made whole (the reducers' ranges fetched)
    /// before the coordinator computes a shard with them.
    func wholeParameters() throws {
        guard let parameters = exchange.parameters else { return }
        try gatherParameters(into: parameters.values, step: exchange.step - 1)
    }

    /// With `--broadcast reducers`: the reducers' ranges of W, b after `step`, into `parameters`;
    /// once for a buffer and step (the last step's evaluation and the model both ask).
    func gatherParameters(into parameters: ParameterBuffer, step: Int) throws {
        guard let reducers, reducers.broadcasts else { return }
        let key = (step: step, buffer: ObjectIdentifier(parameters))
        guard gathered.map({ $0 != key }) ?? true else { return }
        try gather(step: step, parameters: parameters, optimizer: nil)
        gathered = key
    }

    /// Asks the reducers for their state after `step` and takes it, while the next step's
    /// messages go on being taken; a reducer that does not answer within the worker timeout is lost.
    private func gather(step: Int, parameters: ParameterBuffer?, optimizer: Optimizer?) throws {
        guard let reducers else { return }
        try reducers.requestState(step: step, parameters: parameters, optimizer: optimizer)
        defer { reducers.finishGathering() }
        let deadline = ContinuousClock.now + settings.workerTimeout
        while !reducers.stateComplete {
            try Interruption.check()
            try reducers.checkLiveness()
            membership.checkLiveness(step: exchange.step)
            guard ContinuousClock.now < deadline else {
                throw CoordinatorError.reducerLost(
                    rank: 0, name: "a reducer",
                    reason: "no reducer's state came within \(settings.workerTimeout.inSeconds) s")
            }
            exchange.received(bytes: try receiveOne(timeout: .milliseconds(50), accumulator: current))
        }
    }
}
