import Core
import Wire

/// A step's parameters put together from PARAMS_PART pieces: down the broadcast tree (in order,
/// from offset 0), or from several senders in any order (`--broadcast reducers`: range 0 from the
/// coordinator, each other range from its reducer). Two buffers, reused: the last complete
/// step's parameters stay while the next step's pieces come in.
struct ParamsAssembly {
    /// The last step whose parameters are all here, and them.
    private(set) var complete: (step: UInt64, values: ParameterBuffer)?
    private var building: ParameterBuffer
    /// The step whose pieces are being put together, and the stretches of it in so far.
    private var step: UInt64?
    private var filled: [Range<Int>] = []
    private var count = 0

    init(layout: ParameterLayout) {
        building = ParameterBuffer(layout: layout)
    }

    /// Takes `part`; returns true when it completes its step's parameters. A piece of another
    /// step than the one under way starts that step afresh (the one under way missed a piece:
    /// the coordinator sends a worker that misses its parameters a whole PARAMS); a piece that
    /// overlaps one already in is dropped.
    mutating func add(_ part: ParamsPart) throws -> Bool {
        guard Int(part.total) == building.count, Int(part.offset) + part.values.count <= building.count else {
            throw WorkerError.protocolViolation(
                "step \(part.step) carries \(part.total) parameters in pieces (\(part.values.count) from \(part.offset)), the network has \(building.count)"
            )
        }
        if step != part.step {
            step = part.step
            filled = []
            count = 0
        }
        let range = Int(part.offset)..<Int(part.offset) + part.values.count
        guard !range.isEmpty, !filled.contains(where: { $0.overlaps(range) }) else { return false }
        part.values.copy(into: building.values + range.lowerBound)
        filled.append(range)
        count += range.count
        guard count == building.count else { return false }
        let done = building
        building = complete?.values ?? ParameterBuffer(layout: done.layout)
        complete = (part.step, done)
        step = nil
        return true
    }
}
