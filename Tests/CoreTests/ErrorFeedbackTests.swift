import Foundation
import Testing

@testable import Core

/// `ErrorFeedback`: what is sent plus what is owed is what was computed, and what is owed stays
/// small — which rounding alone does not achieve.
@Suite struct ErrorFeedbackTests {
    /// Sums of what `feedback` sends for `steps` gradients of `count` values, against the true
    /// ones, all in Double (exact enough: its error is 2²⁹ times below the bounds checked).
    struct Run {
        var sent: [Double]
        var truth: [Double]
        /// Σ_t |g + e| over the steps: 2⁻²⁴ of it bounds what the Float32 additions g + e lost.
        var addends: [Double]
        /// max_t max_i |Σ sent − Σ true| after each step.
        var drift: [Double] = []
    }

    /// `steps` steps of `count` gradients, sent through `feedback`, or only rounded if it is nil.
    static func run(
        _ feedback: ErrorFeedback?, format: GradientEncoding, count: Int, steps: Int, gradient: (Int, Int) -> Float
    ) -> Run {
        var run = Run(
            sent: Array(repeating: 0, count: count), truth: Array(repeating: 0, count: count),
            addends: Array(repeating: 0, count: count))
        var g = [Float](repeating: 0, count: count)
        var bits = [UInt16](repeating: 0, count: count)
        for t in 0..<steps {
            for i in 0..<count {
                g[i] = gradient(t, i)
                run.truth[i] += Double(g[i])
                run.addends[i] += Double(abs(g[i] + (feedback?.residual[i] ?? 0)))
            }
            if let feedback {
                feedback.compress(g, into: &bits)
            } else {
                for i in 0..<count { bits[i] = format.quantize(g[i]) }
            }
            for i in 0..<count { run.sent[i] += Double(format.dequantize(bits[i])) }
            run.drift.append(zip(run.sent, run.truth).map { abs($0 - $1) }.max()!)
        }
        return run
    }

    /// Gradients over eight decades, 10⁻⁷ to 10, some below float16's smallest subnormal, seeded.
    static func gradient(seed: UInt64) -> (Int, Int) -> Float {
        { t, i in
            var rng = Xoshiro256(seed: seed, stream: 7, UInt64(t), UInt64(i))
            return Float(rng.nextGaussian() * pow(10, rng.nextUnit() * 8 - 7))
        }
    }

    /// Over T steps Σ dequantize(sent) + e_T = Σ g, up to the Float32 rounding of each g + e
    /// (the subtraction e = g′ − dequantize(q) is exact): at most 2⁻²⁴·Σ_t |g_t + e_{t−1}|.
    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func sentPlusResidualIsWhatWasComputed(format: GradientEncoding) {
        let feedback = ErrorFeedback(encoding: format, count: 64)
        let run = Self.run(
            feedback, format: format, count: feedback.count, steps: 300, gradient: Self.gradient(seed: 11))
        for i in 0..<feedback.count {
            let owed = Double(feedback.residual[i])
            let bound = 0x1p-24 * run.addends[i]
            #expect(
                abs(run.sent[i] + owed - run.truth[i]) <= bound,
                "value \(i): Σ sent + e = \(run.sent[i] + owed), Σ g = \(run.truth[i]), bound \(bound)")
        }
        // Not vacuous: rounding did take something, and error feedback gave it back later.
        #expect((0..<feedback.count).contains { feedback.residual[$0] != 0 })
    }

    /// A constant gradient that the format rounds the same way every step: sent as it is, the
    /// sum drifts by that rounding every step; with error feedback it never drifts by more than
    /// about half a 16-bit unit. float16: 10⁻⁸ rounds to 0 and 1 + 2⁻¹² to 1; bfloat16: 1 + 2⁻⁹
    /// rounds to 1 and 3·2⁻¹² − 2⁻²⁰ to 3·2⁻¹².
    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func errorFeedbackKeepsTheDriftBoundedWhileRoundingAloneLetsItGrow(format: GradientEncoding) {
        let constants: [Float] =
            format == .float16 ? [1e-8, 1 + 0x1p-12, -3e-6] : [1 + 0x1p-9, 3 * 0x1p-12 - 0x1p-20, -7e-3]
        let gradient: (Int, Int) -> Float = { _, i in constants[i] }
        let steps = 1000
        let plain = Self.run(nil, format: format, count: constants.count, steps: steps, gradient: gradient)
        let feedback = ErrorFeedback(encoding: format, count: constants.count)
        let corrected = Self.run(feedback, format: format, count: constants.count, steps: steps, gradient: gradient)

        // Every |g′| stays below 2, where half a unit of the format is 2⁻¹¹ (float16) or 2⁻⁸
        // (bfloat16); the additions g + e may lose 2⁻²⁴ of each |g′| besides.
        let halfUnit = format == .float16 ? 0x1p-11 : 0x1p-8
        let bound = halfUnit + 0x1p-24 * corrected.addends.max()!
        #expect(corrected.drift.max()! <= bound, "with error feedback the drift reached \(corrected.drift.max()!)")
        #expect(
            plain.drift[steps - 1] >= 9 * plain.drift[steps / 10 - 1],
            "rounding alone: \(plain.drift[steps / 10 - 1]) after \(steps / 10) steps, \(plain.drift[steps - 1]) after \(steps)"
        )
        #expect(plain.drift[steps - 1] > 100 * bound)
    }

    /// A value beyond float16's range is sent as 65504; the excess is owed and sent next step.
    @Test func aClampedExcessIsSentLater() {
        let feedback = ErrorFeedback(encoding: .float16, count: 1)
        var bits: [UInt16] = [0]
        feedback.compress([70000], into: &bits)
        #expect(bits == [0x7BFF] && feedback.residual[0] == 4496)
        feedback.compress([0], into: &bits)
        #expect(GradientEncoding.float16.dequantize(bits[0]) == 4496 && feedback.residual[0] == 0)
    }

    /// A non-finite gradient is sent as such (the coordinator must see it) and leaves no NaN
    /// behind; `reset` forgets what is owed.
    @Test(arguments: [GradientEncoding.float16, .bfloat16])
    func nonFiniteValuesLeaveNoResidual(format: GradientEncoding) {
        let feedback = ErrorFeedback(encoding: format, count: 3)
        var bits: [UInt16] = [0, 0, 0]
        feedback.compress([1 + 0x1p-12, 1, 1], into: &bits)
        #expect(feedback.residual[0] != 0)
        feedback.compress([.nan, .infinity, -.infinity], into: &bits)
        #expect(
            format.dequantize(bits[0]).isNaN && format.dequantize(bits[1]) == .infinity
                && format.dequantize(bits[2]) == -.infinity)
        #expect((0..<3).allSatisfy { feedback.residual[$0] == 0 })
        feedback.compress([1 + 0x1p-12, 0, 0], into: &bits)
        feedback.reset()
        #expect((0..<3).allSatisfy { feedback.residual[$0] == 0 })
    }
}
