import Core

/// LOCAL_STEPS's payload (protocol 10), field by field in declaration order; the learning-rate
/// schedule as a kind byte (0 constant, 1 step, 2 cosine) and its three parameters, the
/// optimizer as REDUCER_ASSIGN carries it.
extension MessageCodec {
    static func writeLocalSteps(_ steps: LocalSteps, into writer: inout PayloadWriter) {
        writer.write(steps.step)
        writer.write(steps.last)
        writer.write(UInt32(bitPattern: steps.pid))
        writer.write(UInt32(bitPattern: steps.fd))
        writer.write(steps.party)
        writer.write(steps.parties)
        writer.write(steps.shards)
        writer.write(steps.shardCount)
        writer.write(steps.exampleCount)
        writer.write(steps.batch)
        writer.write(steps.seed)
        writer.write(steps.learningRate)
        let (kind, every, factor, total): (UInt8, UInt32, Float, UInt64) =
            switch steps.schedule {
            case .constant: (0, 0, 0, 0)
            case .step(let every, let factor): (1, UInt32(clamping: every), factor, 0)
            case .cosine(let total): (2, 0, 0, UInt64(max(0, total)))
            }
        writer.write(kind)
        writer.write(every)
        writer.write(factor)
        writer.write(total)
        writeOptimizer(steps.optimizer, into: &writer)
        writer.write(steps.updates)
        writer.write(steps.timeoutMilliseconds)
    }

    static func readLocalSteps(from reader: inout PayloadReader) throws(WireError) -> LocalSteps {
        let (step, last) = (try reader.read(UInt64.self, "step"), try reader.read(UInt64.self, "last"))
        let pid = Int32(bitPattern: try reader.read(UInt32.self, "pid"))
        let fd = Int32(bitPattern: try reader.read(UInt32.self, "fd"))
        let (party, parties) = (try reader.read(UInt32.self, "party"), try reader.read(UInt32.self, "parties"))
        let shards = try reader.read([UInt32].self, "shards")
        let shardCount = try reader.read(UInt32.self, "shardCount")
        let exampleCount = try reader.read(UInt64.self, "exampleCount")
        let (batch, seed) = (try reader.read(UInt32.self, "batch"), try reader.read(UInt64.self, "seed"))
        let learningRate = try reader.read(Float.self, "learningRate")
        let schedule = try readSchedule(from: &reader)
        let optimizer = try readOptimizer(from: &reader)
        let steps = LocalSteps(
            step: step, last: last, pid: pid, fd: fd, party: party, parties: parties, shards: shards,
            shardCount: shardCount, exampleCount: exampleCount, batch: batch, seed: seed, learningRate: learningRate,
            schedule: schedule, optimizer: optimizer, updates: try reader.read(UInt64.self, "updates"),
            timeoutMilliseconds: try reader.read(UInt32.self, "timeoutMilliseconds"))
        try check(steps)
        return steps
    }

    private static func readSchedule(from reader: inout PayloadReader) throws(WireError) -> LearningRateSchedule {
        let kind = try reader.read(UInt8.self, "schedule")
        let every = try reader.read(UInt32.self, "everyEpochs")
        let factor = try reader.read(Float.self, "factor")
        let total = try reader.read(UInt64.self, "totalSteps")
        // One encoding per schedule: the fields a kind does not use are 0.
        switch kind {
        case 0 where every == 0 && factor.bitPattern == 0 && total == 0: return .constant
        case 1 where every >= 1 && total == 0: return .step(everyEpochs: Int(every), factor: factor)
        case 2 where total >= 1 && total <= UInt64(Int32.max) && every == 0 && factor.bitPattern == 0:
            return .cosine(totalSteps: Int(total))
        default: throw .malformedPayload("schedule \(kind) (every \(every), factor \(factor), total \(total))")
        }
    }

    /// What no coordinator sends: a span that ends before it starts, a party outside the
    /// processes, shards outside the run, twice, or more processes than shards.
    private static func check(_ steps: LocalSteps) throws(WireError) {
        guard steps.last > steps.step, steps.last - steps.step <= UInt64(StepArea.ringLength) else {
            throw .malformedPayload("a span from step \(steps.step) to \(steps.last)")
        }
        guard steps.parties >= 1, steps.party < steps.parties, steps.parties <= UInt32(StepArea.maxParties),
            steps.parties <= steps.shardCount, steps.pid > 0, steps.fd >= 0,
            steps.exampleCount >= UInt64(steps.shardCount)
        else {
            throw .malformedPayload(
                "process \(steps.party) of \(steps.parties), \(steps.shardCount) shards, pid \(steps.pid), fd \(steps.fd)"
            )
        }
        guard Set(steps.shards).count == steps.shards.count, steps.shards.allSatisfy({ $0 < steps.shardCount }) else {
            throw .malformedPayload("shards \(steps.shards) of \(steps.shardCount)")
        }
        guard steps.learningRate.isFinite, steps.timeoutMilliseconds >= 1 else {
            throw .malformedPayload("learning rate \(steps.learningRate), timeout \(steps.timeoutMilliseconds) ms")
        }
    }
}
