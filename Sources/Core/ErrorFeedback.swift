/// Error feedback for one shard's compressed partials: what rounding takes from one step's
/// gradient is added to the next step's, so it is delayed rather than lost (Seide et al. 2014,
/// "1-bit stochastic gradient descent"; Karimireddy et al. 2019, "Error feedback fixes SignSGD").
///
/// Each step, per value: g′ = g + e; q = quantize(g′); e = g′ − dequantize(q); q is sent. The
/// subtraction is exact (Sterbenz: the rounded value is within a factor 2 of g′) except after a
/// clamp, so over T steps Σ dequantize(q_t) + e_T = Σ g_t up to the rounding of the additions
/// g + e: what the coordinator has received trails what was computed by e_T, about half a 16-bit
/// unit of the last g′, however long the run.
///
/// The residual e is state a worker keeps between steps, one buffer per shard it computes,
/// allocated once; it starts at zero and is not checkpointed.
public final class ErrorFeedback: @unchecked Sendable {
    public let encoding: GradientEncoding
    public let count: Int
    /// e: per value, what has been computed but not yet sent.
    public let residual: UnsafeMutablePointer<Float>

    /// A residual of `count` zeros, for partials rounded to the 16-bit `encoding`.
    public init(encoding: GradientEncoding, count: Int) {
        precondition(encoding.isSixteenBit, "error feedback for a 16-bit encoding")
        self.encoding = encoding
        self.count = count
        residual = .allocate(capacity: count)
        residual.initialize(repeating: 0, count: count)
    }

    deinit { residual.deallocate() }

    /// Forgets what has not been sent.
    public func reset() { residual.update(repeating: 0, count: count) }

    /// Rounds g + e into `bits` and keeps what rounding took as the new e, in one pass over
    /// the values `range` (default: all `count`) at `gradients`, `residual` and `bits`, which all
    /// index the whole gradient — so a worker compresses each segment as backprop finishes it.
    ///
    /// A value that is not finite leaves no residual: the coordinator refuses the partial that
    /// carries it, and a NaN kept in e would spoil every later step of the shard.
    public func compress(
        _ gradients: UnsafePointer<Float>, into bits: UnsafeMutablePointer<UInt16>, range: Range<Int>? = nil
    ) {
        let e = residual
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "a range inside the gradient")
        // One loop per format, so that each inlines its own conversion.
        switch encoding {
        case .float32: preconditionFailure(GradientEncoding.notRounded)
        case .float16:
            for i in range {
                let g = gradients[i] + e[i]
                let q = GradientEncoding.float16Bits(g)
                bits[i] = q
                let left = g - GradientEncoding.float(float16Bits: q)
                e[i] = left.isFinite ? left : 0
            }
        case .bfloat16:
            for i in range {
                let g = gradients[i] + e[i]
                let q = GradientEncoding.bfloat16Bits(g)
                bits[i] = q
                let left = g - GradientEncoding.float(bfloat16Bits: q)
                e[i] = left.isFinite ? left : 0
            }
        }
    }
}
