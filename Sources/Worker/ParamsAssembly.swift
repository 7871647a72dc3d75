import Core
import Wire

/// A step's parameters put together from its PARAMS_PART messages (the broadcast tree), which
/// arrive in order from offset 0. One buffer, reused every step: a step's pieces only come once
/// the step before is done.
struct ParamsAssembly {
    let buffer: ParameterBuffer
    /// The step whose pieces are being put together, if any.
    private(set) var step: UInt64?
    private var filled = 0

    init(layout: ParameterLayout) {
        buffer = ParameterBuffer(layout: layout)
    }

    /// Takes `part`; returns true when it completes its step's parameters. A piece that does not
    /// continue the step under way (a gap: a piece was dropped on the way) abandons that step:
    /// the coordinator sends a worker that misses its parameters a whole PARAMS.
    mutating func add(_ part: ParamsPart) throws -> Bool {
        guard Int(part.total) == buffer.count else {
            throw WorkerError.protocolViolation(
                "step \(part.step) carries \(part.total) parameters in pieces, the network has \(buffer.count)")
        }
        if part.offset == 0 {
            step = part.step
            filled = 0
        }
        guard part.step == step, Int(part.offset) == filled else {
            step = nil
            return false
        }
        part.values.copy(into: buffer.values + filled)
        filled += part.values.count
        return filled == buffer.count
    }
}
