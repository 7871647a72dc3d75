import Foundation
import Testing

@testable import Core

// The vectorised update rules against the scalar loops they replaced (13e6dfc), bit for bit:
// W, b, the moments and the finiteness marks, in place (`apply`) and out of place (`update` by
// ranges), on segments of every awkward length and offset.

/// Today's rule as the scalar loops computed it before they were vectorised, copied verbatim but
/// for their inputs: one segment from `w`, `s` and the moments into `o` and `o1`, `o2`.
private func referenceSegment(
    _ settings: OptimizerSettings, w: UnsafePointer<Float>, s: UnsafePointer<Float>,
    m1: UnsafePointer<Float>, m2: UnsafePointer<Float>, o: UnsafeMutablePointer<Float>,
    o1: UnsafeMutablePointer<Float>, o2: UnsafeMutablePointer<Float>, count: Int, m: Int, alpha: Float,
    decay: Float, t updates: Int
) -> UInt32 {
    let mf = Float(m)
    var marks: UInt32 = 0
    switch settings.kind {
    case .sgd:
        if decay == 0 {
            for i in 0..<count {
                let next = w[i] - alpha * (s[i] / mf)
                o[i] = next
                marks |= Finiteness.mark(next)
            }
        } else {
            for i in 0..<count {
                let next = w[i] - alpha * (s[i] / mf + decay * w[i])
                o[i] = next
                marks |= Finiteness.mark(next)
            }
        }
    case .momentum:
        let (v, ov, mu) = (m1, o1, settings.momentum)
        for i in 0..<count {
            let velocity = mu * v[i] + (s[i] / mf + decay * w[i])
            let next = w[i] - alpha * velocity
            ov[i] = velocity
            o[i] = next
            marks |= Finiteness.mark(velocity) | Finiteness.mark(next)
        }
    case .adam:
        let (b1, b2, eps) = (settings.beta1, settings.beta2, settings.epsilon)
        let t = Float(updates)
        let correction1 = 1 - Elementary.pow(b1, t)
        let correction2 = 1 - Elementary.pow(b2, t)
        for i in 0..<count {
            let g = s[i] / mf + decay * w[i]
            let first = b1 * m1[i] + (1 - b1) * g
            let second = b2 * m2[i] + (1 - b2) * g * g
            let next = w[i] - alpha * (first / correction1) / ((second / correction2).squareRoot() + eps)
            o1[i] = first
            o2[i] = second
            o[i] = next
            marks |= Finiteness.mark(next) | Finiteness.mark(second)
        }
    }
    return marks
}

/// The reference's W, b and moments, and its update.
private final class Reference {
    let settings: OptimizerSettings
    let layout: ParameterLayout
    private(set) var w: UnsafeMutablePointer<Float>
    private(set) var first: UnsafeMutablePointer<Float>
    private(set) var second: UnsafeMutablePointer<Float>
    private var next: UnsafeMutablePointer<Float>
    private var nextFirst: UnsafeMutablePointer<Float>
    private var nextSecond: UnsafeMutablePointer<Float>

    /// W, b as given, the moments 0.
    init(settings: OptimizerSettings, layout: ParameterLayout, w values: [Float]) {
        (self.settings, self.layout) = (settings, layout)
        let all = (0..<6).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: layout.count) }
        for p in all { p.initialize(repeating: 0, count: layout.count) }
        (w, first, second, next, nextFirst, nextSecond) = (all[0], all[1], all[2], all[3], all[4], all[5])
        w.update(from: values, count: layout.count)
    }

    deinit { for p in [w, first, second, next, nextFirst, nextSecond] { p.deallocate() } }

    private func values(_ p: UnsafeMutablePointer<Float>) -> [Float] {
        Array(UnsafeBufferPointer(start: p, count: layout.count))
    }

    var parameters: [Float] { values(w) }

    /// The moments the rule keeps, as `Optimizer.firstMoment` and `secondMoment` hold them.
    var moments: [[Float]?] {
        switch settings.kind {
        case .sgd: [nil, nil]
        case .momentum: [values(first), nil]
        case .adam: [values(first), values(second)]
        }
    }

    /// One whole update at step `t`, segment by segment as the optimizer cuts them; the marks.
    func step(sum: [Float], m: Int, alpha: Float, t: Int) -> UInt32 {
        var marks: UInt32 = 0
        for l in 1...layout.shape.depth {
            let segments = [
                (layout.weightOffsets[l], layout.weightCount(l), settings.weightDecay),
                (layout.biasOffsets[l], layout.shape.layers[l], Float(0)),
            ]
            for (start, count, decay) in segments {
                marks |= sum.withUnsafeBufferPointer { s in
                    referenceSegment(
                        settings, w: w + start, s: s.baseAddress! + start, m1: first + start, m2: second + start,
                        o: next + start, o1: nextFirst + start, o2: nextSecond + start, count: count, m: m,
                        alpha: alpha, decay: decay, t: t)
                }
            }
        }
        swap(&w, &next)
        swap(&first, &nextFirst)
        swap(&second, &nextSecond)
        return marks
    }
}

/// Values of every scale from 2⁻²⁰ to 2⁶, either sign, with some ±0.
private func awkwardValues(_ count: Int, _ rng: inout Xoshiro256) -> [Float] {
    (0..<count).map { _ in
        switch rng.next(below: 16) {
        case 0: return 0
        case 1: return -0.0
        default:
            let magnitude = Float(pow(2, rng.nextUnit() * 26 - 20))
            return rng.next(below: 2) == 0 ? magnitude : -magnitude
        }
    }
}

/// Up to `cuts` random cuts of 0..<count into ranges, in a random order.
private func randomRanges(_ count: Int, cuts: Int, _ rng: inout Xoshiro256) -> [Range<Int>] {
    var bounds = Set([0, count])
    for _ in 0..<cuts { bounds.insert(rng.next(below: count + 1)) }
    let sorted = bounds.sorted()
    var ranges = (1..<sorted.count).map { sorted[$0 - 1]..<sorted[$0] }
    for i in ranges.indices.reversed() { ranges.swapAt(i, rng.next(below: i + 1)) }
    return ranges
}

/// nil when `actual` holds `expected`'s bits (or neither is there); otherwise the first difference.
private func difference(_ actual: [Float]?, _ expected: [Float]?) -> String? {
    guard let actual, let expected else { return actual == nil && expected == nil ? nil : "one is missing" }
    guard actual.count == expected.count else { return "\(actual.count) values, expected \(expected.count)" }
    guard let i = actual.indices.first(where: { actual[$0].bitPattern != expected[$0].bitPattern }) else {
        return nil
    }
    let hex = { (x: Float) in String(x.bitPattern, radix: 16) }
    return "[\(i)]: \(actual[i]) (0x\(hex(actual[i]))), expected \(expected[i]) (0x\(hex(expected[i])))"
}

/// Layers whose segments are 1 value, fewer than a vector, a vector and a few, many vectors and
/// a few: W1 (5, 3) at 0, b1 at 15, W2 (1, 5) at 20, b2 (1) at 25; and 91, 7, 21, 3, 99, 33, 330, 10
/// values at 0, 91, 98, 119, 122, 221, 254, 584.
private let shapes = [[3, 5, 1], [13, 7, 3, 33, 10]]

/// Settings that take every path: sgd and momentum, Adam's corrections dividing or rounded to
/// 1 (c₁ from t = 165, c₂ from about 17,300; with β₁ > β₂, c₂ first).
private let settingsCases: [(OptimizerKind, Float, Float)] = [
    (.sgd, 0.9, 0.999), (.momentum, 0.9, 0.999), (.adam, 0.9, 0.999), (.adam, 0.999, 0.9),
]

/// The cases of `settingsCases` that are Adam's.
private let adamCases = settingsCases.indices.filter { settingsCases[$0].0 == .adam }

@Suite struct OptimizerBitsTests {
    /// Every rule, with and without weight decay, at steps t = 1, 2, 10 (and past Adam's
    /// corrections rounding to 1): `apply` in place and `update` by ranges out of place give the
    /// reference's W, b, moments and marks, to the bit.
    @Test(arguments: settingsCases.indices)
    func vectorisedRulesAreTheBitsOfTheScalarLoops(_ index: Int) {
        checkSteps(index, kernel: .best)
    }

    /// `vectorisedRulesAreTheBitsOfTheScalarLoops` for settings case `index`, Adam on `kernel`.
    private func checkSteps(_ index: Int, kernel: AdamKernel) {
        let (kind, beta1, beta2) = settingsCases[index]
        for layers in shapes {
            let layout = ParameterLayout(shape: try! NetworkShape(layers: layers, activation: .relu))
            for decay: Float in [0, 0.01] {
                var settings = OptimizerSettings(kind: kind)
                (settings.weightDecay, settings.beta1, settings.beta2, settings.momentum) = (decay, beta1, beta2, 0.8)
                check(settings, layout, kernel: kernel, steps: [1, 2, 3, 10, 11, 100, 165, 166, 20_000, 20_001])
            }
        }
    }

    /// Steps `steps` (each t pinned on the optimizers), all three ways from the same W, b.
    private func check(_ settings: OptimizerSettings, _ layout: ParameterLayout, kernel: AdamKernel, steps: [Int]) {
        var rng = Xoshiro256(seed: 11, stream: UInt64(layout.count))
        let what = "\(settings.kind) β \(settings.beta1), \(settings.beta2) λ \(settings.weightDecay) \(layout.count)"
        let (m, alpha): (Int, Float) = (7, 0.03)
        let reference = Reference(settings: settings, layout: layout, w: awkwardValues(layout.count, &rng))
        let inPlace = Optimizer(settings: settings, layout: layout)
        let byRanges = Optimizer(settings: settings, layout: layout)
        (inPlace.adamKernel, byRanges.adamKernel) = (kernel, kernel)
        let p = ParameterBuffer(layout: layout)
        var w = ParameterBuffer(layout: layout)
        var next = ParameterBuffer(layout: layout)
        p.copy(from: reference.parameters)
        w.copy(from: reference.parameters)
        let sum = ParameterBuffer(layout: layout)
        for t in steps {
            sum.copy(from: awkwardValues(layout.count, &rng))
            let expectedMarks = reference.step(sum: sum.array, m: m, alpha: alpha, t: t)
            inPlace.updates = t - 1
            inPlace.apply(to: p, gradientSum: sum, exampleCount: m, learningRate: alpha)
            byRanges.updates = t - 1
            var marks: UInt32 = 0
            for range in randomRanges(layout.count, cuts: 5, &rng) {
                marks |= byRanges.update(
                    w, gradientSum: sum, range: range, exampleCount: m, learningRate: alpha, into: next)
            }
            #expect(marks == expectedMarks, "\(what), t \(t): marks")
            #expect(byRanges.commit(marks: marks))
            swap(&w, &next)
            for (optimizer, values, way) in [(inPlace, p, "in place"), (byRanges, w, "by ranges")] {
                let moments = [optimizer.firstMoment?.array, optimizer.secondMoment?.array]
                #expect(difference(values.array, reference.parameters) == nil, "\(what), t \(t), \(way): W, b")
                #expect(difference(moments[0], reference.moments[0]) == nil, "\(what), t \(t), \(way): first")
                #expect(difference(moments[1], reference.moments[1]) == nil, "\(what), t \(t), \(way): second")
            }
        }
    }

    /// A NaN or infinity in the gradient, in a vector or among the values left over: the marks
    /// are the reference's (the update is refused), and so are the values `apply` leaves.
    @Test(arguments: settingsCases.indices)
    func nonFiniteGradientsMarkAsTheScalarLoopsDid(_ index: Int) {
        checkNonFinite(index, kernel: .best)
    }

    /// `nonFiniteGradientsMarkAsTheScalarLoopsDid` for settings case `index`, Adam on `kernel`.
    private func checkNonFinite(_ index: Int, kernel: AdamKernel) {
        let (kind, beta1, beta2) = settingsCases[index]
        let layout = ParameterLayout(shape: try! NetworkShape(layers: shapes[1], activation: .relu))
        for decay: Float in [0, 0.01] {
            var settings = OptimizerSettings(kind: kind)
            (settings.weightDecay, settings.beta1, settings.beta2) = (decay, beta1, beta2)
            // In W1's vectors and its last 3, b1, W2's last 5, W3's vectors, b4's last 2.
            for position in [0, 9, 89, 92, 118, 200, layout.count - 1] {
                for bad: Float in [.nan, .infinity, -.infinity, .greatestFiniteMagnitude] {
                    var rng = Xoshiro256(seed: 12, stream: UInt64(position))
                    let start = awkwardValues(layout.count, &rng)
                    let reference = Reference(settings: settings, layout: layout, w: start)
                    var sum = awkwardValues(layout.count, &rng)
                    sum[position] = bad
                    let expectedMarks = reference.step(sum: sum, m: 1, alpha: 1e5, t: 3)
                    let what = "\(kind) β \(beta1), \(beta2) λ \(decay): \(bad) at \(position)"
                    let p = ParameterBuffer(layout: layout)
                    p.copy(from: start)
                    let gradient = ParameterBuffer(layout: layout)
                    gradient.copy(from: sum)
                    let next = ParameterBuffer(layout: layout)
                    let checked = Optimizer(settings: settings, layout: layout)
                    (checked.updates, checked.adamKernel) = (2, kernel)
                    let marks = checked.update(
                        p, gradientSum: gradient, range: 0..<layout.count, exampleCount: 1, learningRate: 1e5,
                        into: next)
                    #expect(marks == expectedMarks, "\(what): marks")
                    #expect(!Finiteness.allFinite(marks: marks), "\(what): refused")
                    #expect(difference(next.array, reference.parameters) == nil, "\(what): next W, b")
                    let inPlace = Optimizer(settings: settings, layout: layout)
                    (inPlace.updates, inPlace.adamKernel) = (2, kernel)
                    inPlace.apply(to: p, gradientSum: gradient, exampleCount: 1, learningRate: 1e5)
                    #expect(difference(p.array, reference.parameters) == nil, "\(what): W, b in place")
                    let moments = [inPlace.firstMoment?.array, inPlace.secondMoment?.array]
                    #expect(difference(moments[0], reference.moments[0]) == nil, "\(what): first moment")
                    #expect(difference(moments[1], reference.moments[1]) == nil, "\(what): second moment")
                }
            }
        }
    }

    /// Adam forced onto each of its kernels (`AdamKernel`; the tests above run the host's best),
    /// every step and every non-finite gradient above: the reference's bits and marks. A kernel
    /// this CPU lacks is skipped.
    @Test(.enabled(if: AdamKernel.avx512.isAvailable, "this CPU lacks AVX-512F"), arguments: adamCases)
    func avx512KernelGivesTheBitsOfTheScalarLoops(_ index: Int) {
        checkSteps(index, kernel: .avx512)
        checkNonFinite(index, kernel: .avx512)
    }

    @Test(.enabled(if: AdamKernel.avx2.isAvailable, "this CPU lacks AVX2"), arguments: adamCases)
    func avx2KernelGivesTheBitsOfTheScalarLoops(_ index: Int) {
        checkSteps(index, kernel: .avx2)
        checkNonFinite(index, kernel: .avx2)
    }

    @Test(arguments: adamCases)
    func swiftVectorKernelGivesTheBitsOfTheScalarLoops(_ index: Int) {
        checkSteps(index, kernel: .vector)
        checkNonFinite(index, kernel: .vector)
    }

    /// An empty range computes nothing: no marks, `next` untouched.
    @Test(arguments: OptimizerKind.allCases)
    func anEmptyRangeComputesNothing(kind: OptimizerKind) {
        let layout = ParameterLayout(shape: try! NetworkShape(layers: shapes[0], activation: .relu))
        let optimizer = Optimizer(settings: OptimizerSettings(kind: kind), layout: layout)
        let p = ParameterBuffer(layout: layout)
        let next = ParameterBuffer(layout: layout)
        for i in 0..<next.count { next.values[i] = .nan }
        for at in [0, 7, layout.count] {
            let marks = optimizer.update(
                p, gradientSum: p, range: at..<at, exampleCount: 1, learningRate: 0.1, into: next)
            #expect(marks == 0)
        }
        #expect(next.array.allSatisfy { $0.isNaN })
    }
}
