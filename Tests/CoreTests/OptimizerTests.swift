import Foundation
import Testing

@testable import Core

/// A 3-4-2 network's layout: W1 (4, 3), b1 (4), W2 (2, 4), b2 (2) — 26 parameters.
private let layout = ParameterLayout(shape: try! NetworkShape(layers: [3, 4, 2], activation: .relu))

/// A buffer of values with magnitudes uniform in [low, high) and random signs, from a seed.
private func randomBuffer(seed: UInt64, low: Double, high: Double) -> ParameterBuffer {
    var rng = Xoshiro256(seed: seed, stream: 103)
    let p = ParameterBuffer(layout: layout)
    for i in 0..<p.count {
        let magnitude = low + (high - low) * rng.nextUnit()
        p.values[i] = Float(rng.next(below: 2) == 0 ? magnitude : -magnitude)
    }
    return p
}

/// Whether index i of the flat buffer is a weight (true) or a bias (false).
private func isWeight(_ i: Int) -> Bool {
    (1...layout.shape.depth).contains { l in
        (layout.weightOffsets[l]..<layout.weightOffsets[l] + layout.weightCount(l)).contains(i)
    }
}

/// |actual − expected| ≤ 1e-6 · max(1, |expected|), for every value.
private func expectClose(_ actual: ParameterBuffer, _ expected: [Double], _ what: String) {
    for i in 0..<actual.count {
        let a = Double(actual.values[i])
        #expect(abs(a - expected[i]) <= 1e-6 * max(1, abs(expected[i])), "\(what)[\(i)]: \(a), expected \(expected[i])")
    }
}

/// (epoch, rate) for base 0.2, halving every 2 epochs.
private let stepRates: [(Int, Double)] = [(0, 0.2), (1, 0.2), (2, 0.1), (3, 0.1), (4, 0.05), (9, 0.0125)]

/// (step, rate) for base 0.4 over 100 steps; cos(π/4) = √½.
private let cosineRates: [(Int, Double)] = [
    (0, 0.4), (25, 0.2 * (1 + 0.5.squareRoot())), (50, 0.2), (75, 0.2 * (1 - 0.5.squareRoot())), (100, 0), (150, 0),
]

@Suite struct OptimizerTests {
    private let m = 7
    private let alpha: Float = 0.05

    /// sgd is W −= α·(Σ/m), the formulas' mean taken by a division, to the bit.
    @Test func sgdIsExactlyTheMeanGradientStep() {
        let p = randomBuffer(seed: 1, low: 0.5, high: 1.5)
        let sum = randomBuffer(seed: 2, low: 0.1, high: 5)
        let before = p.array
        Optimizer(settings: OptimizerSettings(kind: .sgd), layout: layout)
            .apply(to: p, gradientSum: sum, exampleCount: m, learningRate: alpha)
        for i in 0..<p.count {
            let expected = before[i] - alpha * (sum.values[i] / Float(m))
            #expect(p.values[i].bitPattern == expected.bitPattern, "parameter \(i)")
        }
    }

    /// `update` takes an ordinary step and refuses one whose new values overflow or whose
    /// gradient is not finite, wherever the bad value sits, changing nothing then.
    @Test(arguments: OptimizerKind.allCases)
    func updatesThatWouldOverflowAreRefused(kind: OptimizerKind) {
        var settings = OptimizerSettings(kind: kind)
        for decay: Float in [0, 0.01] {
            settings.weightDecay = decay
            for bad: Float in [.greatestFiniteMagnitude, .infinity, .nan] {
                for position in [0, 13, layout.count - 1] {
                    let optimizer = Optimizer(settings: settings, layout: layout)
                    let p = randomBuffer(seed: 1, low: 0.5, high: 1.5)
                    let next = ParameterBuffer(layout: layout)
                    let sum = randomBuffer(seed: 2, low: 0.1, high: 5)
                    // One ordinary step first, so the moments hold something to keep.
                    #expect(optimizer.update(p, gradientSum: sum, exampleCount: 1, learningRate: alpha, into: next))
                    #expect(optimizer.updates == 1)
                    p.copy(from: next)
                    // Σ = max Float with m = 1 and α = 1e5: α·Σ overflows (adam normalises the
                    // step, but its second moment g² overflows).
                    sum.values[position] = bad
                    let before = p.array
                    let moments = [optimizer.firstMoment?.array, optimizer.secondMoment?.array]
                    #expect(
                        !optimizer.update(p, gradientSum: sum, exampleCount: 1, learningRate: 1e5, into: next),
                        "\(kind), decay \(decay), \(bad) at \(position)")
                    #expect(p.array.map(\.bitPattern) == before.map(\.bitPattern))
                    #expect(
                        [optimizer.firstMoment?.array, optimizer.secondMoment?.array].map { $0?.map(\.bitPattern) }
                            == moments.map { $0?.map(\.bitPattern) })
                    #expect(optimizer.updates == 1)
                }
            }
        }
    }

    /// The checked update out of place gives the bits of `apply` in place — W, b and the moments —
    /// step after step, for every rule, with and without weight decay.
    @Test(arguments: OptimizerKind.allCases)
    func aCheckedUpdateIsTheBitsOfApply(kind: OptimizerKind) {
        var settings = OptimizerSettings(kind: kind)
        for decay: Float in [0, 0.01] {
            settings.weightDecay = decay
            let inPlace = Optimizer(settings: settings, layout: layout)
            let checked = Optimizer(settings: settings, layout: layout)
            let p = randomBuffer(seed: 4, low: -1.5, high: 1.5)
            var w = ParameterBuffer(layout: layout)
            var next = ParameterBuffer(layout: layout)
            w.copy(from: p)
            for step in 0..<4 {
                let sum = randomBuffer(seed: 20 + UInt64(step), low: -5, high: 5)
                inPlace.apply(to: p, gradientSum: sum, exampleCount: m, learningRate: alpha)
                #expect(checked.update(w, gradientSum: sum, exampleCount: m, learningRate: alpha, into: next))
                swap(&w, &next)
                #expect(w.array.map(\.bitPattern) == p.array.map(\.bitPattern), "\(kind), decay \(decay), step \(step)")
                #expect(checked.firstMoment?.array.map(\.bitPattern) == inPlace.firstMoment?.array.map(\.bitPattern))
                #expect(checked.secondMoment?.array.map(\.bitPattern) == inPlace.secondMoment?.array.map(\.bitPattern))
                #expect(checked.updates == inPlace.updates)
            }
        }
    }

    /// An update computed range by range — ranges cut anywhere, across W and b, in any order —
    /// then committed gives the bits of the whole update, step after step, for every rule; and
    /// nothing changes until the commit.
    @Test(arguments: OptimizerKind.allCases)
    func anUpdateByRangesIsTheBitsOfTheWholeUpdate(kind: OptimizerKind) {
        var settings = OptimizerSettings(kind: kind)
        settings.weightDecay = 0.01
        let whole = Optimizer(settings: settings, layout: layout)
        let byRanges = Optimizer(settings: settings, layout: layout)
        var w1 = randomBuffer(seed: 5, low: -1.5, high: 1.5)
        var next1 = ParameterBuffer(layout: layout)
        var w2 = ParameterBuffer(layout: layout)
        var next2 = ParameterBuffer(layout: layout)
        w2.copy(from: w1)
        var rng = Xoshiro256(seed: 9, stream: 5)
        for step in 0..<4 {
            let sum = randomBuffer(seed: 30 + UInt64(step), low: -5, high: 5)
            #expect(whole.update(w1, gradientSum: sum, exampleCount: m, learningRate: alpha, into: next1))
            var cuts = Set<Int>([0, layout.count])
            while cuts.count < 7 { cuts.insert(rng.next(below: layout.count)) }
            let bounds = cuts.sorted()
            var ranges = (1..<bounds.count).map { bounds[$0 - 1]..<bounds[$0] }
            for i in ranges.indices.reversed() { ranges.swapAt(i, rng.next(below: i + 1)) }
            let moments = (byRanges.firstMoment?.array, byRanges.secondMoment?.array)
            var marks: UInt32 = 0
            for range in ranges {
                marks |= byRanges.update(
                    w2, gradientSum: sum, range: range, exampleCount: m, learningRate: alpha, into: next2)
            }
            #expect(
                byRanges.updates == step && byRanges.firstMoment?.array == moments.0
                    && byRanges.secondMoment?.array == moments.1,
                "nothing changes before the commit")
            #expect(byRanges.commit(marks: marks))
            swap(&w1, &next1)
            swap(&w2, &next2)
            #expect(w2.array.map(\.bitPattern) == w1.array.map(\.bitPattern), "\(kind), step \(step), ranges \(ranges)")
            #expect(byRanges.firstMoment?.array.map(\.bitPattern) == whole.firstMoment?.array.map(\.bitPattern))
            #expect(byRanges.secondMoment?.array.map(\.bitPattern) == whole.secondMoment?.array.map(\.bitPattern))
            #expect(byRanges.updates == whole.updates)
        }
        // A range whose new values overflow: the commit refuses, and nothing has changed.
        let huge = randomBuffer(seed: 40, low: 1e30, high: 3e38)
        let before = (w2.array, byRanges.firstMoment?.array, byRanges.secondMoment?.array, byRanges.updates)
        let marks =
            byRanges.update(
                w2, gradientSum: huge, range: 0..<layout.count / 2, exampleCount: 1, learningRate: 1e5, into: next2)
            | byRanges.update(
                w2, gradientSum: huge, range: layout.count / 2..<layout.count, exampleCount: 1, learningRate: 1e5,
                into: next2)
        #expect(!byRanges.commit(marks: marks))
        #expect(
            w2.array == before.0 && byRanges.firstMoment?.array == before.1 && byRanges.secondMoment?.array == before.2)
        #expect(byRanges.updates == before.3)
    }

    /// Classical momentum v = μ·v + g, W −= α·v over three steps with different gradients.
    @Test func momentumMatchesHandComputation() {
        let p = randomBuffer(seed: 3, low: 0.5, high: 1.5)
        var settings = OptimizerSettings(kind: .momentum)
        settings.momentum = 0.8
        let optimizer = Optimizer(settings: settings, layout: layout)
        var w = p.array.map(Double.init)
        var v = [Double](repeating: 0, count: p.count)
        for step in 0..<3 {
            let sum = randomBuffer(seed: 10 + UInt64(step), low: 0.1, high: 5)
            optimizer.apply(to: p, gradientSum: sum, exampleCount: m, learningRate: alpha)
            for i in 0..<w.count {
                v[i] = 0.8 * v[i] + Double(sum.values[i]) / Double(m)
                w[i] -= Double(alpha) * v[i]
            }
        }
        expectClose(p, w, "W")
        expectClose(optimizer.firstMoment!, v, "v")
    }

    /// Adam (Kingma & Ba 2015, Algorithm 1) over three steps, bias correction included.
    @Test(arguments: [Float(0), 0.01])
    func adamMatchesHandComputation(weightDecay: Float) {
        let p = randomBuffer(seed: 4, low: 0.5, high: 1.5)
        var settings = OptimizerSettings(kind: .adam)
        settings.weightDecay = weightDecay
        let optimizer = Optimizer(settings: settings, layout: layout)
        let (b1, b2, eps, lambda) = (0.9, 0.999, 1e-8, Double(weightDecay))
        var w = p.array.map(Double.init)
        var m1 = [Double](repeating: 0, count: p.count)
        var m2 = m1
        // Gradients that change sign between steps, so m and v do not simply scale.
        for step in 1...3 {
            let sum = randomBuffer(seed: 20 + UInt64(step), low: 0.1, high: 5)
            optimizer.apply(to: p, gradientSum: sum, exampleCount: m, learningRate: alpha)
            for i in 0..<w.count {
                let g = Double(sum.values[i]) / Double(m) + (isWeight(i) ? lambda * w[i] : 0)
                m1[i] = b1 * m1[i] + (1 - b1) * g
                m2[i] = b2 * m2[i] + (1 - b2) * g * g
                let mHat = m1[i] / (1 - pow(b1, Double(step)))
                let vHat = m2[i] / (1 - pow(b2, Double(step)))
                w[i] -= Double(alpha) * mHat / (vHat.squareRoot() + eps)
            }
        }
        #expect(optimizer.updates == 3)
        expectClose(p, w, "W")
        expectClose(optimizer.firstMoment!, m1, "m")
        expectClose(optimizer.secondMoment!, m2, "v")
    }

    /// With a zero gradient, λ > 0 shrinks every weight and leaves every bias bit-for-bit alone.
    @Test(arguments: OptimizerKind.allCases)
    func weightDecayTouchesWeightsNotBiases(kind: OptimizerKind) {
        let p = randomBuffer(seed: 5, low: 0.5, high: 1.5)
        let before = p.array
        var settings = OptimizerSettings(kind: kind)
        settings.weightDecay = 0.1
        let optimizer = Optimizer(settings: settings, layout: layout)
        let zero = ParameterBuffer(layout: layout)
        optimizer.apply(to: p, gradientSum: zero, exampleCount: m, learningRate: alpha)
        var weights = 0
        for i in 0..<p.count {
            if isWeight(i) {
                weights += 1
                #expect(abs(p.values[i]) < abs(before[i]), "weight \(i) must shrink toward 0")
                #expect(p.values[i].sign == before[i].sign)
            } else {
                #expect(p.values[i].bitPattern == before[i].bitPattern, "bias \(i) must not be decayed")
            }
        }
        #expect(weights == 3 * 4 + 4 * 2)
    }

    /// sgd with decay: W −= α·(Σ/m + λ·W); b −= α·Σ/m.
    @Test func sgdWeightDecayMatchesHandComputation() {
        let p = randomBuffer(seed: 6, low: 0.5, high: 1.5)
        let sum = randomBuffer(seed: 7, low: 0.1, high: 5)
        let before = p.array.map(Double.init)
        var settings = OptimizerSettings(kind: .sgd)
        settings.weightDecay = 0.01
        Optimizer(settings: settings, layout: layout).apply(
            to: p, gradientSum: sum, exampleCount: m, learningRate: alpha)
        let expected = (0..<p.count).map { i in
            before[i] - Double(alpha) * (Double(sum.values[i]) / Double(m) + (isWeight(i) ? 0.01 * before[i] : 0))
        }
        expectClose(p, expected, "W")
    }

    @Test func scheduleConstant() {
        for (step, epoch) in [(0, 0), (7, 1), (10_000, 99)] {
            #expect(LearningRateSchedule.constant.rate(base: 0.3, step: step, epoch: epoch) == 0.3)
        }
    }

    /// α·γ^⌊epoch / every⌋, epochs counted from 0.
    @Test(arguments: stepRates)
    func scheduleStep(epoch: Int, expected: Double) {
        let rate = LearningRateSchedule.step(everyEpochs: 2, factor: 0.5).rate(base: 0.2, step: 1234, epoch: epoch)
        #expect(abs(Double(rate) - expected) <= 1e-6 * expected)
    }

    /// α·½(1 + cos(π·step / total)), held at 0 after the last step.
    @Test(arguments: cosineRates)
    func scheduleCosine(step: Int, expected: Double) {
        let rate = LearningRateSchedule.cosine(totalSteps: 100).rate(base: 0.4, step: step, epoch: 0)
        #expect(abs(Double(rate) - expected) <= 1e-6 * 0.4)
        #expect(rate >= 0)
    }
}
