import Core
import Wire

/// Whether a PARTIAL may be added to the step's sum: a check of the message against the step, with
/// no side effects. A 16-bit partial is checked as it travels; reading it back to Float32 is the
/// step exchange's.
struct PartialValidator {
    enum Verdict: Equatable {
        case accept
        /// Harmless but useless: late, duplicated, or for a shard no longer this worker's.
        case ignore(String)
        /// Wrong for a shard this worker was asked for: the worker cannot be trusted.
        case poisoned(String)
    }

    let shardCount: Int
    /// The gradient's segments, as workers send them.
    let segments: [Range<Int>]
    /// The encoding the run's WELCOME announced.
    let encoding: GradientEncoding

    /// The verdict on `partial` from a worker hosting `hostedShards`, in `step`, whose work is
    /// `work` by shard and whose partials so far are in `accumulator`.
    func verdict(
        on partial: Partial, step: Int, hostedShards: Set<Int>, work: [Int: ShardWork],
        accumulator: GradientAccumulator
    ) -> Verdict {
        let shard = Int(partial.shardID)
        guard partial.step == UInt64(step) else { return .ignore("it is for step \(partial.step), not \(step)") }
        guard shard < shardCount, hostedShards.contains(shard), let work = work[shard] else {
            return .ignore("shard \(partial.shardID) is not this worker's")
        }
        let segment = Int(partial.segment)
        guard segment < segments.count else {
            return .poisoned("segment \(partial.segment) of a gradient cut in \(segments.count)")
        }
        guard !accumulator.has(shard: shard, segment: segment) else {
            return .ignore("shard \(shard) segment \(segment) arrived twice")
        }
        guard Int(partial.exampleCount) == work.selection.count else {
            return .poisoned(
                "shard \(shard) reports \(partial.exampleCount) examples, the step gave it \(work.selection.count)")
        }
        guard partial.encoding == encoding else {
            return .poisoned("gradients in \(partial.encoding), the run asked for \(encoding)")
        }
        guard partial.gradients.count == segments[segment].count else {
            let expected = segments[segment].count
            return .poisoned("\(partial.gradients.count) gradient values in segment \(segment), which has \(expected)")
        }
        guard partial.lossSum.isFinite, partial.lossSum >= 0 else { return .poisoned("loss sum \(partial.lossSum)") }
        return Self.allFinite(partial.gradients) ? .accept : .poisoned("non-finite gradient values")
    }

    /// Whether every gradient value is finite. A 16-bit value read back to Float32 is finite
    /// exactly when its own exponent field is not all ones, so it is checked as it travels.
    static func allFinite(_ gradients: PartialGradients) -> Bool {
        switch gradients {
        case .float32(let g):
            return g.withUnsafeFloats { floats in
                floats.baseAddress.map { Finiteness.allFinite($0, count: floats.count) } ?? true
            }
        case .float16(let bits): return allFinite(bits, exponentMask: 0x7C00)
        case .bfloat16(let bits): return allFinite(bits, exponentMask: 0x7F80)
        }
    }

    /// As `Finiteness.allFinite` for 16-bit patterns: one unit added to an exponent field that
    /// is all ones carries into bit 15, so or-ing those sums tests every value at once.
    private static func allFinite(_ bits: HalfArray, exponentMask: UInt16) -> Bool {
        let unit = exponentMask & ~(exponentMask << 1)
        return bits.withUnsafeBits { values in
            var marks: UInt16 = 0
            for value in values { marks |= (value & exponentMask) &+ unit }
            return marks & 0x8000 == 0
        }
    }
}
