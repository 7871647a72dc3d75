import Core

/// Whether a PARTIAL may be added to the step's sum: a check of the message against the step, with
/// no side effects, by whoever sums it (the coordinator, or a reducer its range's pieces). A
/// 16-bit partial is checked as it travels; reading it back to Float32 is the receiver's.
public struct PartialValidator: Sendable {
    public enum Verdict: Equatable, Sendable {
        case accept
        /// Harmless but useless: late, duplicated, or for shards no longer this worker's.
        case ignore(String)
        /// Wrong for a shard this worker was asked for: the worker cannot be trusted.
        case poisoned(String)
    }

    public let shardCount: Int
    /// The gradient's segments (or pieces, `ReductionRanges`), as workers send them.
    public let segments: [Range<Int>]
    /// The encoding the run's WELCOME announced.
    public let encoding: GradientEncoding

    public init(shardCount: Int, segments: [Range<Int>], encoding: GradientEncoding) {
        self.shardCount = shardCount
        self.segments = segments
        self.encoding = encoding
    }

    /// The verdict on `partial` from a worker hosting `hostedShards`, in `step`, whose work is
    /// `work` by shard and whose partials so far are in `accumulator`.
    public func verdict(
        on partial: Partial, step: Int, hostedShards: Set<Int>, work: [Int: ShardWork],
        accumulator: GradientAccumulator
    ) -> Verdict {
        let span = partial.span
        guard partial.step == UInt64(step) else { return .ignore("it is for step \(partial.step), not \(step)") }
        guard span.upperBound <= shardCount, span.allSatisfy({ hostedShards.contains($0) && work[$0] != nil }) else {
            return .ignore("\(Self.name(span)) \(span.count == 1 ? "is" : "are") not this worker's")
        }
        guard accumulator.tree.node(span) != nil else {
            return .poisoned("shards \(span.lowerBound)…\(span.upperBound - 1) are not a node of the reduction tree")
        }
        let segment = Int(partial.segment)
        guard segment < segments.count else {
            return .poisoned("segment \(partial.segment) of a gradient cut in \(segments.count)")
        }
        guard accumulator.expects(segment: segment) else {
            return .poisoned("segment \(segment) lies in a range that another process sums")
        }
        guard !accumulator.overlaps(span, segment: segment) else {
            return .ignore("\(Self.name(span)) segment \(segment) arrived already")
        }
        let examples = span.reduce(0) { $0 + (work[$1]?.selection.count ?? 0) }
        guard Int(partial.exampleCount) == examples else {
            return .poisoned(
                """
                \(Self.name(span)) \(span.count == 1 ? "reports" : "report") \(partial.exampleCount) examples, \
                the step gave \(examples)
                """)
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

    /// "shard 3", or "shards 4…7".
    public static func name(_ span: Range<Int>) -> String {
        span.count == 1 ? "shard \(span.lowerBound)" : "shards \(span.lowerBound)…\(span.upperBound - 1)"
    }

    /// Whether every gradient value is finite. A 16-bit value read back to Float32 is finite
    /// exactly when its own exponent field is not all ones, so it is checked as it travels.
    public static func allFinite(_ gradients: PartialGradients) -> Bool {
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
