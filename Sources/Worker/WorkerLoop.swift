import Core
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Wire

/// The worker's role: hold shards, and for every STEP send one PARTIAL per shard in its plan.
final class WorkerLoop {
    private let link: CoordinatorLink
    private let faults: FaultPlan
    private var log: Logger

    init(link: CoordinatorLink, faults: FaultPlan, log: Logger) {
        self.link = link
        self.faults = faults
        self.log = log
    }

    /// Serves sessions until the coordinator says goodbye; a new WELCOME starts a new session.
    func run() throws {
        while try serve(link.welcome) {}
        link.close()
    }

    /// One registration's worth of work; returns true when the coordinator welcomed this worker
    /// anew (it restarted), false on goodbye.
    private func serve(_ welcome: Welcome) throws -> Bool {
        guard let activation = Activation(rawValue: welcome.activation) else {
            throw WorkerError.protocolViolation("unknown activation '\(welcome.activation)'")
        }
        let shape: NetworkShape
        do {
            shape = try NetworkShape(layers: welcome.layers.map(Int.init), activation: activation)
        } catch {
            throw WorkerError.protocolViolation("\(error)")
        }
        BLAS.setThreads(Int(welcome.threads))
        let rank = Int(welcome.rank)
        log[metadataKey: "rank"] = "\(rank)"
        let compression = welcome.gradientEncoding.compression
        log.info("registered with \(link.endpoint) as rank \(rank): \(shape)\(compression == nil ? "" : ", partials in \(welcome.gradientEncoding)")")

        let layout = ParameterLayout(shape: shape)
        link.pauseBeforeSharedParameters = faults.value(.pause, rank: rank).map(UInt64.init)
        link.offerSharedMemory(layout: layout)
        /// The step's parameters: where they lie in the PARAMS frame that brought them, or in the
        /// coordinator's shared parameters (no copy either way). Let go once the STEP is done, so
        /// the frame is free before the next PARAMS arrives (every STEP follows its own PARAMS): a
        /// worker never holds two parameter sets.
        var parameters: ParameterBuffer?
        let gradient = ParameterBuffer(layout: layout)
        let segments = layout.segments.map(\.range)
        let workspace = Workspace(shape: shape)
        var shards: [Int: ShardData] = [:]
        var assembler = ShardAssembler()
        /// The step whose PARAMS `parameters` holds.
        var parametersStep: UInt64?
        /// With compression: each held shard's residual, and the 16-bit gradients being sent.
        var feedback: [Int: ErrorFeedback] = [:]
        var bits = [UInt16](repeating: 0, count: compression == nil ? 0 : layout.count)

        while true {
            switch try link.next() {
            case .shard(let chunk):
                guard chunk.features == UInt32(shape.inputs) else {
                    throw WorkerError.protocolViolation("shard \(chunk.shardID) has \(chunk.features) features, the network \(shape.inputs)")
                }
                if let shard = try assembler.add(chunk) {
                    shards[shard.id] = shard
                    // A shard (re)assigned here starts with nothing owed: what its last host had
                    // not sent is lost with that host.
                    if let compression { feedback[shard.id] = ErrorFeedback(compression: compression, count: layout.count) }
                    try link.send(.shardReady(ShardReady(shardID: UInt32(shard.id), examples: UInt32(shard.count))))
                    // The chunks it came in are freed: their pages need not stay resident.
                    AllocatorTuning.returnFreeMemory()
                    log.debug("shard \(shard.id) ready: \(shard.count) examples, \(shard.featureBytes) bytes of features\(shard.keepsByteCodes ? " (byte codes)" : "")")
                }
            case .params(let params):
                guard params.values.count == layout.count else {
                    throw WorkerError.protocolViolation("step \(params.step) carries \(params.values.count) parameters, the network has \(layout.count)")
                }
                if let values = params.values.receivedFloats {
                    // Computed from where they lie: the buffer holds the message, and so its frame.
                    parameters = ParameterBuffer(layout: layout, borrowing: values, owner: params)
                } else {
                    let copy = ParameterBuffer(layout: layout)
                    params.values.copy(into: copy.values)
                    parameters = copy
                }
                parametersStep = params.step
            case .step(let step):
                try injectFaults(rank: rank, step: Int(step.step))
                guard let stepParameters = parameters, parametersStep == step.step else {
                    if link.missedSharedParameters {
                        // Late (stopped, or starved of CPU): the coordinator went on without this
                        // worker, which will be welcomed anew once it says hello again.
                        log.warning("step \(step.step) skipped: its parameters in shared memory already belong to a later step")
                        continue
                    }
                    throw WorkerError.protocolViolation("step \(step.step) arrived without its parameters")
                }
                defer { (parameters, parametersStep) = (nil, nil) }
                for work in step.plan {
                    let selection = work.examples.core
                    guard let shard = shards[Int(work.shardID)], shard.accepts(selection) else {
                        throw WorkerError.protocolViolation("step \(step.step) asks for examples of shard \(work.shardID), which this worker does not hold")
                    }
                    // Each segment of the gradient goes out as soon as backprop has finished it,
                    // so the coordinator adds it while the rest is still being computed.
                    let started = ContinuousClock.now
                    var sendError: Error?
                    _ = shard.computePartial(stepParameters, selection: selection, workspace: workspace, into: gradient) { index, evaluation in
                        guard sendError == nil else { return }
                        let range = segments[index]
                        if index == 0, let delay = self.faults.value(.delay, rank: rank) { usleep(useconds_t(delay * 1000)) }
                        if self.faults.value(.nan, rank: rank) == Int(step.step) { (gradient.values + range.lowerBound).update(repeating: .nan, count: range.count) }
                        let partial = Partial(
                            step: step.step, shardID: work.shardID, segment: UInt32(index), exampleCount: UInt32(selection.count),
                            correctCount: UInt32(evaluation.correct), lossSum: evaluation.lossSum,
                            computeSeconds: (ContinuousClock.now - started).inSeconds, gradients: .float32([]))
                        do {
                            if let residual = feedback[shard.id] {
                                let frames = bits.withUnsafeMutableBufferPointer { bits in
                                    residual.compress(gradient.values, into: bits.baseAddress!, range: range)
                                    return MessageCodec.encodePartial(
                                        partial, encoding: welcome.gradientEncoding, bits: UnsafeBufferPointer(rebasing: bits[range]))
                                }
                                try self.link.send(frames: frames)
                            } else {
                                try self.link.send(partial, gradients: UnsafeBufferPointer(start: gradient.values + range.lowerBound, count: range.count))
                            }
                        } catch {
                            sendError = error
                        }
                    }
                    if let sendError { throw sendError }
                }
            case .welcome:
                log.notice("the coordinator welcomed this worker anew (it restarted); starting over")
                return true
            case .bye(let bye):
                log.info("coordinator said goodbye: \(bye.reason)")
                if let summary = link.sharedMemorySummary { log.debug("\(summary)") }
                return false
            case .refuse(let refuse):
                throw WorkerError.refused(reason: refuse.reason)
            case let other:
                log.debug("ignored an unexpected \(other.kind) message")
            }
        }
    }

    private func injectFaults(rank: Int, step: Int) throws {
        if faults.value(.exit, rank: rank) == step {
            log.warning("fault injection: exiting at step \(step)")
            exit(3)
        }
        if faults.value(.stall, rank: rank) == step {
            log.warning("fault injection: stopping this process (SIGSTOP) at step \(step)")
            raise(SIGSTOP)
        }
    }
}

extension GradientEncoding {
    /// The 16-bit format partials are rounded to, or nil for Float32.
    var compression: GradientCompression? {
        switch self {
        case .float32: nil
        case .float16: .float16
        case .bfloat16: .bfloat16
        }
    }
}

extension Wire.ExampleSelection {
    /// The same selection in Core's terms.
    var core: Core.ExampleSelection {
        switch self {
        case .range(let start, let count): return .range(Int(start)..<Int(start) + Int(count))
        case .list(let indices): return .list(indices.map { Int32(bitPattern: $0) })
        }
    }
}
