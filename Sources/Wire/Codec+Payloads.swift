import Core

/// The payload layout of each message kind, field by field in declaration order; integers
/// little-endian, counts and string lengths u32, arrays contiguous after their count.
extension MessageCodec {
    static func writePayload(_ message: Message, into writer: inout PayloadWriter) {
        switch message {
        case .hello(let hello):
            writer.write(hello.protocolVersion)
            writer.write(hello.name)
            writeProfile(hello.profile, into: &writer)
            writer.write(hello.relayEndpoint)
            writer.write(hello.reducerEndpoint)
            writer.write(hello.reducerPublicKey)
        case .welcome(let welcome):
            writer.write(welcome.rank)
            writer.write(welcome.heartbeatMilliseconds)
            writer.write(welcome.threads)
            writer.write(welcome.layers)
            writer.write(welcome.activation)
            writer.write(welcome.seed)
            writer.write(welcome.gradientEncoding.wireCode)
            writer.write(welcome.blasKernel)
        case .refuse(let refuse):
            writer.write(refuse.reason)
            writer.write(refuse.kernel)
        case .shard(let chunk):
            writeShardChunk(chunk, into: &writer)
        case .shardReady(let ready):
            writer.write(ready.shardID)
            writer.write(ready.examples)
        case .params(let params):
            writer.write(params.step)
            writer.write(params.values)
        case .step(let step):
            writeStep(step, into: &writer)
        case .partial(let partial):
            writePartialFields(partial, encoding: partial.encoding, into: &writer)
            switch partial.gradients {
            case .float32(let values): writer.write(values)
            case .float16(let bits), .bfloat16(let bits): writer.write(bits)
            }
        case .heartbeat(let heartbeat):
            writer.write(heartbeat.step)
        case .bye(let bye):
            writer.write(bye.reason)
        case .relay(let relay):
            writer.write(relay.parentAddress)
            writer.write(relay.children)
        case .paramsPart(let part):
            writer.write(part.step)
            writer.write(part.offset)
            writer.write(part.total)
            writer.write(part.values)
        case .reducers, .join, .reducerAssign, .rangeState, .stateRequest, .reduceStep, .reduced, .reducerNote:
            writeReducerPayload(message, into: &writer)
        case .localSteps(let steps):
            writeLocalSteps(steps, into: &writer)
        }
    }

    private static func writeShardChunk(_ chunk: ShardChunk, into writer: inout PayloadWriter) {
        writer.write(chunk.shardID)
        writer.write(chunk.shardCount)
        writer.write(chunk.features)
        writer.write(chunk.shardExamples)
        writer.write(chunk.firstExample)
        writer.write(chunk.labels)
        writer.write(chunk.values)
    }

    private static func writeStep(_ step: Step, into writer: inout PayloadWriter) {
        writer.write(step.step)
        writer.write(step.treeShards)
        writer.writeCount(step.plan.count)
        for work in step.plan {
            writer.write(UInt32(work.shard))
            switch work.selection {
            case .range(let range):
                writer.write(SelectionTag.range.rawValue)
                writer.write(UInt32(range.lowerBound))
                writer.write(UInt32(range.count))
            case .list(let indices):
                // Indices travel as u32; Core's Int32 holds the same bits.
                writer.write(SelectionTag.list.rawValue)
                writer.write(indices)
            }
        }
    }

    static func readPayload(_ kind: MessageKind, from reader: inout PayloadReader) throws(WireError) -> Message {
        switch kind {
        case .hello:
            return .hello(try readHello(from: &reader))
        case .welcome:
            return .welcome(
                Welcome(
                    rank: try reader.read(UInt32.self, "rank"),
                    heartbeatMilliseconds: try reader.read(UInt32.self, "heartbeatMilliseconds"),
                    threads: try reader.read(UInt32.self, "threads"),
                    layers: try reader.read([UInt32].self, "layers"),
                    activation: try reader.read(String.self, "activation"),
                    seed: try reader.read(UInt64.self, "seed"),
                    gradientEncoding: try readEncoding(from: &reader, "gradientEncoding"),
                    blasKernel: try reader.read(String.self, "blasKernel")
                ))
        case .refuse:
            return .refuse(
                Refuse(reason: try reader.read(String.self, "reason"), kernel: try reader.read(String.self, "kernel")))
        case .shard:
            return .shard(try readShardChunk(from: &reader))
        case .shardReady:
            return .shardReady(
                ShardReady(
                    shardID: try reader.read(UInt32.self, "shardID"),
                    examples: try reader.read(UInt32.self, "examples")
                ))
        case .params:
            return .params(
                Params(
                    step: try reader.read(UInt64.self, "step"),
                    values: try reader.read(FloatArray.self, "values")
                ))
        case .step:
            return .step(try readStep(from: &reader))
        case .partial:
            return .partial(try readPartial(from: &reader))
        case .heartbeat:
            return .heartbeat(Heartbeat(step: try reader.read(UInt64.self, "step")))
        case .bye:
            return .bye(Bye(reason: try reader.read(String.self, "reason")))
        case .relay:
            return .relay(
                Relay(
                    parentAddress: try reader.read(String.self, "parentAddress"),
                    children: try reader.read([String].self, "children")))
        case .paramsPart:
            return .paramsPart(try readParamsPart(from: &reader))
        case .reducers, .join, .reducerAssign, .rangeState, .stateRequest, .reduceStep, .reduced, .reducerNote:
            return try readReducerPayload(kind, from: &reader)
        case .localSteps:
            return .localSteps(try readLocalSteps(from: &reader))
        }
    }

    private static func readHello(from reader: inout PayloadReader) throws(WireError) -> Hello {
        let hello = Hello(
            protocolVersion: try reader.read(UInt16.self, "protocolVersion"),
            name: try reader.read(String.self, "name"),
            profile: try readProfile(from: &reader),
            relayEndpoint: try reader.read(String.self, "relayEndpoint"),
            reducerEndpoint: try reader.read(String.self, "reducerEndpoint"),
            reducerPublicKey: try reader.read(String.self, "reducerPublicKey"))
        try checkPublicKey(hello.reducerPublicKey, "reducerPublicKey")
        return hello
    }

    private static func readParamsPart(from reader: inout PayloadReader) throws(WireError) -> ParamsPart {
        let part = ParamsPart(
            step: try reader.read(UInt64.self, "step"),
            offset: try reader.read(UInt32.self, "offset"),
            total: try reader.read(UInt32.self, "total"),
            values: try reader.read(FloatArray.self, "values"))
        guard UInt64(part.offset) + UInt64(part.values.count) <= UInt64(part.total), part.values.count > 0 else {
            throw .malformedPayload(
                "parameters \(part.offset)..<\(UInt64(part.offset) + UInt64(part.values.count)) of \(part.total)")
        }
        return part
    }

    private static func readPartial(from reader: inout PayloadReader) throws(WireError) -> Partial {
        let partial = Partial(
            step: try reader.read(UInt64.self, "step"),
            shardID: try reader.read(UInt32.self, "shardID"),
            shardSpan: try reader.read(UInt32.self, "shardSpan"),
            segment: try reader.read(UInt32.self, "segment"),
            exampleCount: try reader.read(UInt32.self, "exampleCount"),
            correctCount: try reader.read(UInt32.self, "correctCount"),
            lossSum: try reader.read(Double.self, "lossSum"),
            computeSeconds: try reader.read(Double.self, "computeSeconds"),
            gradients: try readGradients(from: &reader)
        )
        try checkPartial(partial)
        return partial
    }

    /// The checks of a PARTIAL's fields beyond their layout.
    static func checkPartial(_ partial: Partial) throws(WireError) {
        guard partial.shardSpan >= 1, UInt64(partial.shardID) + UInt64(partial.shardSpan) <= UInt64(UInt32.max) else {
            throw .malformedPayload("shard span \(partial.shardSpan) from shard \(partial.shardID)")
        }
        guard partial.correctCount <= partial.exampleCount else {
            throw .malformedPayload(
                "correctCount \(partial.correctCount) exceeds exampleCount \(partial.exampleCount)")
        }
    }

    /// Padding, the encoding, then the array in that encoding's width.
    private static func readGradients(from reader: inout PayloadReader) throws(WireError) -> PartialGradients {
        try reader.readPadding(partialPadding, "padding")
        let encoding = try readEncoding(from: &reader, "encoding")
        if encoding == .float32 { return .float32(try reader.read(FloatArray.self, "gradients")) }
        return PartialGradients(encoding, bits: try reader.read(HalfArray.self, "gradients"))
    }

    private static func readEncoding(from reader: inout PayloadReader, _ field: String) throws(WireError)
        -> GradientEncoding
    {
        let byte = try reader.read(UInt8.self, field)
        guard let encoding = GradientEncoding(wireCode: byte) else {
            throw .malformedPayload("unknown \(field) \(byte)")
        }
        return encoding
    }

    private static func readShardChunk(from reader: inout PayloadReader) throws(WireError) -> ShardChunk {
        let chunk = ShardChunk(
            shardID: try reader.read(UInt32.self, "shardID"),
            shardCount: try reader.read(UInt32.self, "shardCount"),
            features: try reader.read(UInt32.self, "features"),
            shardExamples: try reader.read(UInt32.self, "shardExamples"),
            firstExample: try reader.read(UInt32.self, "firstExample"),
            labels: try reader.read([Int32].self, "labels"),
            values: try reader.read([Float].self, "values")
        )
        guard chunk.shardID < chunk.shardCount else {
            throw .malformedPayload("shardID \(chunk.shardID) is not below shardCount \(chunk.shardCount)")
        }
        // UInt64 holds any sum or product of two UInt32 values.
        let examples = UInt64(chunk.labels.count)
        guard UInt64(chunk.firstExample) + examples <= UInt64(chunk.shardExamples) else {
            throw .malformedPayload(
                "examples \(chunk.firstExample)..<\(UInt64(chunk.firstExample) + examples) "
                    + "overrun the shard's \(chunk.shardExamples)")
        }
        guard UInt64(chunk.values.count) == UInt64(chunk.features) * examples else {
            throw .malformedPayload(
                "\(chunk.values.count) values for \(chunk.features) features × \(examples) examples")
        }
        return chunk
    }

    private static func readStep(from reader: inout PayloadReader) throws(WireError) -> Step {
        let step = try reader.read(UInt64.self, "step")
        let treeShards = try reader.read(UInt32.self, "treeShards")
        let planCount = try reader.readCount("plan count")
        // The smallest entry is a shard ID, a tag and an empty list's count: 9 bytes. Checking
        // first keeps a hostile count from reserving memory the payload cannot fill.
        guard planCount <= reader.remaining / 9 else {
            throw .malformedPayload("plan count \(planCount) cannot fit in \(reader.remaining) bytes")
        }
        var plan: [ShardWork] = []
        plan.reserveCapacity(planCount)
        var seen = Set<UInt32>()
        for _ in 0..<planCount {
            let shardID = try reader.read(UInt32.self, "plan shardID")
            guard seen.insert(shardID).inserted else {
                throw .malformedPayload("shard \(shardID) appears twice in the plan")
            }
            let tag = try reader.read(UInt8.self, "selection tag")
            switch SelectionTag(rawValue: tag) {
            case .range:
                let start = try reader.read(UInt32.self, "range start")
                let count = try reader.read(UInt32.self, "range count")
                guard UInt64(start) + UInt64(count) <= UInt64(UInt32.max) + 1 else {
                    throw .malformedPayload("range \(start) + \(count) overflows u32 indices")
                }
                let first = Int(start)
                plan.append(ShardWork(shard: Int(shardID), selection: .range(first..<first + Int(count))))
            case .list:
                let indices = try reader.read([Int32].self, "example list")
                plan.append(ShardWork(shard: Int(shardID), selection: .list(indices)))
            case nil:
                throw .malformedPayload("unknown example selection tag \(tag)")
            }
        }
        return Step(step: step, treeShards: treeShards, plan: plan)
    }

    /// A bound on the payload's size, so the buffer is allocated once.
    static func payloadSizeEstimate(_ message: Message) -> Int {
        func size(_ string: String) -> Int { 4 + min(string.utf8.count, WireProtocol.maxStringBytes) }
        switch message {
        case .hello(let hello):
            let profile = hello.profile
            let strings =
                [profile.blas, profile.kernel, profile.pin ?? "", profile.features.architecture]
                + [profile.features.flags.joined(separator: ","), profile.elementary]
            let endpoints = size(hello.relayEndpoint) + size(hello.reducerEndpoint) + size(hello.reducerPublicKey)
            return 6 + size(hello.name) + endpoints + strings.map(size).reduce(0, +)
        case .refuse(let refuse):
            return size(refuse.reason) + size(refuse.kernel)
        case .bye(let bye):
            return size(bye.reason)
        case .welcome(let welcome):
            return 32 + 4 * welcome.layers.count + size(welcome.activation) + size(welcome.blasKernel)
        case .shard(let chunk):
            return 32 + 4 * chunk.labels.count + 4 * chunk.values.count
        case .step(let step):
            let plan = step.plan.reduce(0) { total, work in
                switch work.selection {
                case .range: total + 13
                case .list(let indices): total + 9 + 4 * indices.count
                }
            }
            return 16 + plan
        case .params(let params):
            return 12 + 4 * params.values.count
        case .partial(let partial):
            return 52 + partial.encoding.byteWidth * partial.gradients.count
        case .relay(let relay):
            return size(relay.parentAddress) + 4 + relay.children.map(size).reduce(0, +)
        case .paramsPart(let part):
            return 20 + 4 * part.values.count
        case .shardReady, .heartbeat:
            return 8
        case .reducers, .join, .reducerAssign, .rangeState, .stateRequest, .reduceStep, .reduced, .reducerNote:
            return reducerPayloadSizeEstimate(message)
        case .localSteps(let steps):
            return 120 + 4 * steps.shards.count + steps.optimizer.kind.rawValue.utf8.count
        }
    }

    /// A PARTIAL's payload up to its gradients (their count and values follow), for gradients in `encoding`.
    static func writePartialFields(_ partial: Partial, encoding: GradientEncoding, into writer: inout PayloadWriter) {
        writer.write(partial.step)
        writer.write(partial.shardID)
        writer.write(partial.shardSpan)
        writer.write(partial.segment)
        writer.write(partial.exampleCount)
        writer.write(partial.correctCount)
        writer.write(partial.lossSum)
        writer.write(partial.computeSeconds)
        writer.writePadding(partialPadding)
        writer.write(encoding.wireCode)
    }

    /// Zero bytes before a PARTIAL's encoding byte: with them the gradients start 4-byte aligned
    /// in every frame (52 payload bytes after a 28-byte header), so a received Float32 array is
    /// read where it lies.
    static let partialPadding = 3

    /// How a `ShardWork` says which examples it selects.
    private enum SelectionTag: UInt8 {
        case range = 0
        case list = 1
    }
}
