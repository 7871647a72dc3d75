import CSharedMemory
import Core

/// The memory a coordinator shares with its local workers for steps they take among themselves
/// (LOCAL_STEPS, issue 24): one memory file the coordinator makes and owns, which each local
/// worker maps to read and write.
///
/// Layout: a header (magic, sizes, two barrier words, the abandon word, the step done last, the
/// stop request and the step to stop after, the finished and failed counts, each process's
/// finiteness marks); each shard's statistics for the step under way; a ring of step records
/// (process 0's tree-summed statistics of each step, and its time); each shard's partial; two
/// slots of W, b (step t reads slot t % 2 and writes the other); the optimizer's two moments, which
/// the workers take their ranges of at the start of the steps and give back at the end.
public final class StepArea: @unchecked Sendable {
    /// "DSCSTP01".
    static let magic: UInt64 = 0x3130_5054_5343_5344
    public static let fileName = "descent-steps"
    static let headerBytes = 8192
    /// At most this many processes share an area (their marks fill the header's second kilobyte).
    public static let maxParties = 256
    /// Step records kept: a span is at most this long (LOCAL_STEPS refuses a longer one), so no
    /// record is overwritten before the coordinator reads it.
    public static let ringLength = 4096
    static let recordBytes = 64

    private let file: MemoryFile
    public let parameterCount: Int
    public let shards: Int
    public let parties: Int
    private let slotBytes: Int
    private let statisticsBytes: Int

    public var fileDescriptor: Int32 { file.fileDescriptor }
    public var byteCount: Int { file.byteCount }

    private init(file: MemoryFile, parameterCount: Int, shards: Int, parties: Int) {
        self.file = file
        self.parameterCount = parameterCount
        self.shards = shards
        self.parties = parties
        slotBytes = Self.pages(parameterCount * 4)
        statisticsBytes = Self.pages(2 * shards * 24)
    }

    private static func pages(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }

    /// The file's size for `parameterCount` values, `shards` shards.
    public static func bytes(parameterCount: Int, shards: Int) -> Int {
        headerBytes + pages(2 * shards * 24) + pages(ringLength * recordBytes) + (shards + 4)
            * pages(parameterCount * 4)
    }

    /// The coordinator's side: a new area, zeroed.
    public static func create(parameterCount: Int, shards: Int, parties: Int) throws(WireError) -> StepArea {
        guard parameterCount > 0, shards >= 1, parties >= 1, parties <= maxParties, parties <= shards else {
            throw .sharedMemory("no step area for \(parties) processes, \(shards) shards, \(parameterCount) values")
        }
        let file = try MemoryFile.create(
            named: fileName, bytes: bytes(parameterCount: parameterCount, shards: shards), sealed: false)
        file.base.storeBytes(of: magic, as: UInt64.self)
        file.base.storeBytes(of: UInt64(parameterCount), toByteOffset: 8, as: UInt64.self)
        file.base.storeBytes(of: UInt32(shards), toByteOffset: 16, as: UInt32.self)
        file.base.storeBytes(of: UInt32(parties), toByteOffset: 20, as: UInt32.self)
        return StepArea(file: file, parameterCount: parameterCount, shards: shards, parties: parties)
    }

    /// A local worker's side: maps, to read and write, the area process `pid` offered as its
    /// descriptor `fd`; refuses a file that is not a step area of these sizes.
    public static func open(
        pid: Int32, fd: Int32, parameterCount: Int, shards: Int, parties: Int
    ) throws(WireError) -> StepArea {
        guard pid > 0, fd >= 0, parameterCount > 0, shards >= 1, parties >= 1, parties <= min(shards, maxParties)
        else {
            throw .sharedMemory(
                "pid \(pid), descriptor \(fd): not a step area of \(parties) processes, \(shards) shards")
        }
        let file = try MemoryFile.open(
            pid: pid, fd: fd, named: fileName, bytes: bytes(parameterCount: parameterCount, shards: shards),
            writable: true, sealed: false, what: "a Descent step area")
        guard file.base.load(as: UInt64.self) == magic,
            file.base.load(fromByteOffset: 8, as: UInt64.self) == UInt64(parameterCount),
            file.base.load(fromByteOffset: 16, as: UInt32.self) == UInt32(shards),
            file.base.load(fromByteOffset: 20, as: UInt32.self) == UInt32(parties)
        else {
            throw .sharedMemory("/proc/\(pid)/fd/\(fd) does not start with a Descent step area's header")
        }
        return StepArea(file: file, parameterCount: parameterCount, shards: shards, parties: parties)
    }

    private func word<T>(_ offset: Int, _: T.Type) -> UnsafeMutablePointer<T> {
        (file.base + offset).assumingMemoryBound(to: T.self)
    }

    // MARK: Control

    /// The barrier's two words.
    public var barrier: UnsafeMutablePointer<UInt32> { word(64, UInt32.self) }
    /// Non-zero once the steps are abandoned (`descent_barrier_abandon`).
    public var abandon: UnsafeMutablePointer<UInt32> { word(128, UInt32.self) }
    /// The last step every process has finished (absolute, counted from 1), by process 0.
    public var done: UnsafeMutablePointer<UInt64> { word(192, UInt64.self) }
    /// Non-zero when the coordinator asks the workers to stop at the next step's end.
    public var stopRequest: UnsafeMutablePointer<UInt64> { word(320, UInt64.self) }
    /// The step the processes stop after, once process 0 has decided it (0: not decided).
    public var stopAfter: UnsafeMutablePointer<UInt64> { word(384, UInt64.self) }
    /// How many processes have given back their moments after the span, and how many gave it up.
    public var finished: UnsafeMutablePointer<UInt64> { word(512, UInt64.self) }
    public var failed: UnsafeMutablePointer<UInt64> { word(576, UInt64.self) }

    /// Process r's finiteness marks of the step.
    public func marks(_ r: Int) -> UnsafeMutablePointer<UInt32> { word(1024 + 4 * r, UInt32.self) }

    /// Process r's seconds computing its shards in the step under way (written before the step's
    /// first barrier, read by process 0 before its second).
    public func compute(_ r: Int) -> UnsafeMutablePointer<Double> { word(2048 + 8 * r, Double.self) }

    /// Process r's seconds computing and examples computed over the whole span, written at its end:
    /// the coordinator's measure of each worker's speed (`Placement`).
    public func spanCompute(_ r: Int) -> UnsafeMutablePointer<Double> { word(4096 + 16 * r, Double.self) }

    /// Readies the area for a span after `step` committed steps: no stop, nothing done or given
    /// up, the barrier fresh.
    public func reset(after step: Int) {
        barrier.update(repeating: 0, count: 2)
        abandon.pointee = 0
        stopRequest.pointee = 0
        stopAfter.pointee = 0
        finished.pointee = 0
        failed.pointee = 0
        descent_store_release_u64(done, UInt64(step))
    }

    // MARK: Values

    /// Shard k's statistics in step t (Σ loss, correct, examples), for the step under way.
    public func statistics(step t: Int, shard k: Int) -> UnsafeMutablePointer<Double> {
        word(Self.headerBytes + ((t % 2) * shards + k) * 24, Double.self)
    }

    /// Step t's record: examples, correct, Σ loss (the trainer's sums), seconds, the processes'
    /// compute summed and the slowest's, process 0's sum and update.
    public func record(step t: Int) -> UnsafeMutablePointer<Double> {
        word(Self.headerBytes + statisticsBytes + (t % Self.ringLength) * Self.recordBytes, Double.self)
    }

    private var valuesStart: Int { Self.headerBytes + statisticsBytes + Self.pages(Self.ringLength * Self.recordBytes) }

    private func slot(_ i: Int) -> UnsafeMutablePointer<Float> { word(valuesStart + i * slotBytes, Float.self) }

    /// Shard k's partial.
    public func partial(_ k: Int) -> UnsafeMutablePointer<Float> { slot(k) }

    /// W, b in slot i (0 or 1).
    public func parameters(_ i: Int) -> UnsafeMutablePointer<Float> { slot(shards + i) }

    /// The optimizer's first (0) or second (1) moment.
    public func moment(_ i: Int) -> UnsafeMutablePointer<Float> { slot(shards + 2 + i) }

    /// What `RangeStepper` reads and writes here.
    public var stepperMemory: RangeStepper.Memory {
        RangeStepper.Memory(
            partials: (0..<shards).map(partial), parameters: [parameters(0), parameters(1)],
            marks: (0..<parties).map(marks), statistics: { [self] in statistics(step: $0, shard: $1) })
    }
}
