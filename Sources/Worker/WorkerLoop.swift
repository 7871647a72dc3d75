import Core
import Logging
import Wire

/// The worker's role: hold shards, and for every STEP send a PARTIAL per shard in its plan, or
/// per node of the reduction tree that its shards fill when the STEP asks it to add them.
/// One handler per message, each over the session's state (`WorkerSession`).
final class WorkerLoop {
    private let link: CoordinatorLink
    private var log: Logger
    /// Whether this worker takes part in the broadcast tree (`--relay`): its parameters may come
    /// as pieces after the STEP that needs them.
    private let relays: Bool
    /// This worker's CURVE key pair (Z85), for its connections to reducers; nil unencrypted.
    private let curveKeys: (publicKey: String, secretKey: String)?
    /// LOCAL_STEPS: spans of steps taken with the other local workers in shared memory.
    private let localSteps: LocalStepTaker

    init(
        link: CoordinatorLink, relays: Bool = false, curveKeys: (publicKey: String, secretKey: String)? = nil,
        stepDelay: @escaping (Int) -> Int = { _ in 0 }, log: Logger
    ) {
        self.link = link
        self.relays = relays
        self.curveKeys = curveKeys
        self.log = log
        localSteps = LocalStepTaker(delay: stepDelay, log: log)
    }

    /// Serves sessions until the coordinator says goodbye; a new WELCOME starts a new session.
    func run() throws {
        while try serve(link.welcome) {}
        link.close()
    }

    /// What a message leaves the session to do next.
    private enum Next {
        case carryOn
        /// The coordinator welcomed this worker anew (it restarted).
        case startOver
        case stop
    }

    /// One registration's worth of work; returns true when the coordinator welcomed this worker
    /// anew, false on goodbye.
    private func serve(_ welcome: Welcome) throws -> Bool {
        try checkMemory(for: welcome)
        var session = try WorkerSession(welcome: welcome)
        try start(session, threads: Int(welcome.threads), kernel: welcome.blasKernel)
        while true {
            switch try handle(link.next(), in: &session) {
            case .carryOn: continue
            case .startOver: return true
            case .stop: return false
            }
        }
    }

    /// Pins the threads and checks the kernel before the first partial: a kernel that
    /// miscomputes here is named to the coordinator (BYE) and ends the worker.
    private func start(_ session: WorkerSession, threads: Int, kernel: String) throws {
        BLAS.setThreads(threads)
        guard BLAS.kernelName.lowercased() == kernel.lowercased() else {
            throw WorkerError.protocolViolation(
                "welcomed to compute with kernel \(kernel), but it runs \(BLAS.kernelName)")
        }
        do {
            try KernelCheck.verify(shape: session.shape, columns: 64, kernel: kernel)
        } catch {
            try? link.send(.bye(Bye(reason: "\(error)")))
            throw WorkerError.kernelCheckFailed("\(error)")
        }
        log[metadataKey: "rank"] = "\(session.rank)"
        let encoding = session.encoding.isSixteenBit ? ", partials in \(session.encoding)" : ""
        log.info(
            "registered with \(link.endpoint) as rank \(session.rank): \(session.shape)\(encoding), BLAS kernel \(kernel)"
        )
        link.beginSession(layout: session.layout)
    }

    /// A worker holds the parameters, a partial and a node sum, and a shard's activations: one
    /// that cannot stops here, at its WELCOME and before anything is allocated, naming both sizes
    /// (to the coordinator too), rather than failing an allocation in the middle of a step.
    private func checkMemory(for welcome: Welcome) throws {
        guard let activation = Activation(rawValue: welcome.activation),
            let shape = try? NetworkShape(layers: welcome.layers.map(Int.init), activation: activation)
        else { return } // WorkerSession names what is wrong with it.
        let available = MemoryEstimate.available()
        guard let estimate = try? MemoryEstimate(shape: shape, batch: 1, optimizer: .sgd), !estimate.fits(in: available)
        else { return }
        let reason =
            "this worker cannot hold the network: \(estimate.parameters) parameters need at least \(MemoryEstimate.gigabytes(estimate.bytes)), more than the \(MemoryEstimate.gigabytes(Int(clamping: available))) this machine (or its container) allows"
        try? link.send(.bye(Bye(reason: reason)))
        throw WorkerError.notEnoughMemory(reason)
    }

    private func handle(_ message: Message, in session: inout WorkerSession) throws -> Next {
        switch message {
        case .shard(let chunk):
            try receive(chunk, in: &session)
        case .params(let params):
            try session.hold(params)
            try computePending(parameters: params.step, in: &session)
        case .paramsPart(let part):
            if try session.hold(part) { try computePending(parameters: part.step, in: &session) }
        case .localSteps(let steps):
            localSteps.take(steps, session: session, parentPID: link.parentPID)
        case .relay(let relay):
            log.debug("broadcast tree: forwarding parameters to \(relay.children.count) worker(s)")
        case .reducers(let reducers):
            try session.take(reducers, curve: curveKeys)
            log.info(
                "reducers: \(reducers.endpoints.count) besides the coordinator, at \(reducers.endpoints.joined(separator: ", "))"
            )
        case .step(let step):
            // In the broadcast tree a STEP may come before its parameters have come down it.
            if relays && !session.holdsParameters(for: step.step) {
                session.pending = step
            } else {
                try compute(step, in: &session)
            }
        case .welcome:
            log.notice("the coordinator welcomed this worker anew (it restarted); starting over")
            session.closeReducers()
            return .startOver
        case .bye(let bye):
            session.closeReducers()
            log.info("coordinator said goodbye: \(bye.reason)")
            if let summary = link.sharedMemorySummary { log.debug("\(summary)") }
            return .stop
        case .refuse(let refuse):
            // A restarted coordinator that computes with another kernel asks for a switch.
            if !refuse.kernel.isEmpty { throw WorkerError.switchKernel(refuse.kernel) }
            throw WorkerError.refused(reason: refuse.reason)
        case let other:
            log.debug("ignored an unexpected \(other.kind) message")
        }
        return .carryOn
    }

    /// Computes the STEP that waited for the parameters of `step`, now held.
    private func computePending(parameters step: UInt64, in session: inout WorkerSession) throws {
        guard let pending = session.pending, pending.step == step else { return }
        session.pending = nil
        try compute(pending, in: &session)
    }

    /// SHARD: one chunk in; a shard complete is announced with SHARD_READY.
    private func receive(_ chunk: ShardChunk, in session: inout WorkerSession) throws {
        guard let shard = try session.add(chunk) else { return }
        try link.send(.shardReady(ShardReady(shardID: UInt32(shard.id), examples: UInt32(shard.count))))
        // The chunks it came in are freed: their pages need not stay resident.
        AllocatorTuning.returnFreeMemory()
        let codes = shard.keepsByteCodes ? " (byte codes)" : ""
        log.debug("shard \(shard.id) ready: \(shard.count) examples, \(shard.featureBytes) bytes of features\(codes)")
    }

    /// STEP: the partial of each shard in the plan, with the parameters of the PARAMS before it.
    private func compute(_ step: Step, in session: inout WorkerSession) throws {
        guard let parameters = try parameters(for: step.step, in: &session) else {
            // Late (stopped, or starved of CPU): the coordinator went on without this worker. A
            // heartbeat naming the step tells it this worker is back (it asks again one it had
            // backed up); one that had given up on it hears nothing, and this worker registers
            // anew once the silence lasts.
            log.warning(
                "step \(step.step) skipped: \(session.reducersBroadcast ? "the reducers' ranges of its parameters did not come" : "its parameters in shared memory already belong to a later step; this worker fell behind")"
            )
            try link.send(.heartbeat(Heartbeat(step: step.step)))
            return
        }
        var plan: [Int: (shard: ShardData, selection: ExampleSelection)] = [:]
        for work in step.plan {
            guard let shard = session.shards[work.shard], shard.accepts(work.selection) else {
                throw WorkerError.protocolViolation(
                    "step \(step.step) asks for examples of shard \(work.shard), which this worker does not hold")
            }
            plan[work.shard] = (shard, work.selection)
        }
        for span in try session.spans(for: step) {
            if span.count == 1, let (shard, selection) = plan[span.lowerBound] {
                try sendPartial(
                    of: shard, selection: selection, step: step.step, parameters: parameters, session: session)
            } else {
                try sendNode(span, plan: plan, step: step.step, parameters: parameters, session: &session)
            }
        }
    }

    /// Adds the partials of the shards of `node`, a node of the reduction tree, by the tree, and
    /// sends the node as one partial: each segment as soon as its sum is complete, which is while
    /// the node's last shard still runs its backprop.
    private func sendNode(
        _ node: Range<Int>, plan: [Int: (shard: ShardData, selection: ExampleSelection)], step: UInt64,
        parameters: ParameterBuffer, session: inout WorkerSession
    ) throws {
        let started = ContinuousClock.now
        let sum = session.nodeSum(node)
        let segments = session.segments
        let reduction = session.reduction
        var sendError: Error?
        sum.reset { range in
            guard sendError == nil, let index = segments.firstIndex(of: range) else { return }
            let stats = sum.statistics(segment: index)
            let partial = Partial(
                step: step, shardID: UInt32(node.lowerBound), shardSpan: UInt32(node.count), segment: UInt32(index),
                exampleCount: UInt32(stats.examples), correctCount: UInt32(stats.correct), lossSum: stats.lossSum,
                computeSeconds: (ContinuousClock.now - started).inSeconds, gradients: .float32([]))
            do {
                try self.send(
                    partial, segment: index, gradient: sum.sum.values, segments: segments, reduction: reduction)
            } catch {
                sendError = error
            }
        }
        let workspace = session.workspace
        for k in node.dropLast() {
            let (shard, selection) = plan[k]!
            sum.accumulate(shard: k, examples: selection.count) { buffer in
                shard.computePartial(parameters, selection: selection, workspace: workspace, into: buffer)
            }
        }
        let last = node.upperBound - 1
        let (shard, selection) = plan[last]!
        let gradient = session.gradient.values
        _ = shard.computePartial(parameters, selection: selection, workspace: workspace, into: session.gradient) {
            index, evaluation in
            sum.add(
                shard: last, segment: index, values: gradient + segments[index].lowerBound, examples: selection.count,
                correct: evaluation.correct, lossSum: evaluation.lossSum)
        }
        if let sendError { throw sendError }
    }

    /// The parameters of `step`: those PARAMS brought, else those the coordinator shares with this
    /// worker; nil when the shared ones have moved on to a later step (this worker is late).
    private func parameters(for step: UInt64, in session: inout WorkerSession) throws -> ParameterBuffer? {
        if let held = session.takeParameters(for: step) { return held }
        if session.reducersBroadcast { return try awaitReducers(step: step, in: &session) }
        switch link.sharedParameters(step: step) {
        case .none: throw WorkerError.protocolViolation("step \(step) arrived without its parameters")
        case .failure(let error):
            log.debug("step \(step)'s shared parameters: \(error)")
            return nil
        case .success(let params):
            try session.hold(params)
            return session.takeParameters(for: step)
        }
    }

    /// The parameters of `step` with `--broadcast reducers`: range 0 came from the coordinator
    /// before the STEP, the others come from their reducers. nil when they do not come in time (a
    /// reducer lost: the coordinator stops the run and says goodbye).
    private func awaitReducers(step: UInt64, in session: inout WorkerSession) throws -> ParameterBuffer? {
        guard let connections = session.reduction?.connections else { return nil }
        let deadline = ContinuousClock.now + Self.reducersPatience
        while !session.holdsParameters(for: step) {
            guard ContinuousClock.now < deadline else {
                // A reducer this worker could not reach over CURVE says why here.
                for reducer in 1...connections.endpoints.count {
                    if let failure = connections.handshakeFailure(ofReducer: reducer) {
                        log.warning("reducer \(reducer) at \(connections.endpoints[reducer - 1]): \(failure)")
                    }
                }
                return nil
            }
            guard let (reducer, message) = try connections.receive(timeoutMilliseconds: 50) else { continue }
            switch message {
            case .success(.paramsPart(let part)) where part.step >= step:
                _ = try session.hold(part)
                // A later step's: this one's are gone (this worker fell behind).
                if part.step > step { return nil }
            case .success(let other):
                log.debug("ignored \(other.kind) from reducer \(reducer)")
            case .failure(let error):
                log.warning("dropped a message from reducer \(reducer) that failed to decode: \(error)")
            }
        }
        return session.takeParameters(for: step)
    }

    /// How long a STEP waits for the reducers' ranges of its parameters.
    private static let reducersPatience = Duration.seconds(10)

    /// Computes one shard's partial and sends each segment of its gradient as soon as backprop
    /// has finished it, so the coordinator adds it while the rest is still being computed.
    private func sendPartial(
        of shard: ShardData, selection: ExampleSelection, step: UInt64, parameters: ParameterBuffer,
        session: WorkerSession
    ) throws {
        let started = ContinuousClock.now
        let residual = session.feedback[shard.id]
        var sendError: Error?
        _ = shard.computePartial(
            parameters, selection: selection, workspace: session.workspace, into: session.gradient
        ) { index, evaluation in
            guard sendError == nil else { return }
            let partial = Partial(
                step: step, shardID: UInt32(shard.id), segment: UInt32(index), exampleCount: UInt32(selection.count),
                correctCount: UInt32(evaluation.correct), lossSum: evaluation.lossSum,
                computeSeconds: (ContinuousClock.now - started).inSeconds, gradients: .float32([]))
            do {
                try self.send(partial, range: session.segments[index], residual: residual, session: session)
            } catch {
                sendError = error
            }
        }
        if let sendError { throw sendError }
    }

    /// Sends segment `index` of `gradient` (Float32, where it lies): whole to the coordinator, or
    /// with reducers in pieces, each to its range's owner (PARTIAL's segment then numbers the
    /// piece). A reducer whose queue stays full is taken for gone: the piece is dropped, and the
    /// coordinator asks again or stops the run.
    private func send(
        _ partial: Partial, segment index: Int, gradient: UnsafeMutablePointer<Float>, segments: [Range<Int>],
        reduction: WorkerSession.Reduction?
    ) throws {
        guard let reduction else {
            let range = segments[index]
            return try link.send(
                partial, gradients: UnsafeBufferPointer(start: gradient + range.lowerBound, count: range.count))
        }
        var piece = partial
        for p in reduction.piecesOfSegment[index] {
            let owner = reduction.ranges.pieces[p].owner
            let range = reduction.ranges.pieces[p].range
            let values = UnsafeBufferPointer(start: UnsafePointer(gradient + range.lowerBound), count: range.count)
            piece.segment = UInt32(p)
            guard owner != 0 else {
                try link.send(piece, gradients: values)
                continue
            }
            do {
                try reduction.connections.send(MessageCodec.encodePartial(piece, gradients: values), toReducer: owner)
            } catch .timedOut {
                log.warning(
                    "reducer \(owner) takes nothing (its queue is full): a piece of step \(partial.step) dropped")
            }
        }
    }

    /// Sends one segment of the gradient: Float32 from where it lies, or rounded to 16 bits with
    /// the shard's error feedback.
    private func send(_ partial: Partial, range: Range<Int>, residual: ErrorFeedback?, session: WorkerSession) throws {
        let gradient = session.gradient.values
        guard let residual, let compressor = session.compressor else {
            return try send(
                partial, segment: Int(partial.segment), gradient: gradient, segments: session.segments,
                reduction: session.reduction)
        }
        try link.send(frames: compressor.frames(partial, gradient: gradient, range: range, residual: residual))
    }
}
