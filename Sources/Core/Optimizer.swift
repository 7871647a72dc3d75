#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Which update rule turns the averaged gradient into new parameters.
public enum OptimizerKind: String, Sendable, CaseIterable {
    case sgd
    case momentum
    case adam
}

/// Hyper-parameters of an optimizer; the defaults are the usual ones.
public struct OptimizerSettings: Sendable, Equatable {
    public var kind: OptimizerKind = .sgd
    /// μ of classical momentum: v = μ·v + dW.
    public var momentum: Float = 0.9
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// L2 weight decay λ, added to dW as λ·W (biases are not decayed).
    public var weightDecay: Float = 0

    public init(kind: OptimizerKind = .sgd) { self.kind = kind }
}

/// Applies one update to W, b from Σ dW, Σ db over a step's m examples.
///
/// The gradient is the exact mean g = Σ/m (the formulas' 1/m), so `sgd` is exactly
/// W −= α·dW, b −= α·db. State (velocity, moments) lives in flat buffers the coordinator owns and
/// checkpoints.
public final class Optimizer: @unchecked Sendable {
    public let settings: OptimizerSettings
    /// momentum: v; adam: the first moment m.
    public private(set) var firstMoment: ParameterBuffer?
    /// adam: the second moment v.
    public private(set) var secondMoment: ParameterBuffer?
    /// Updates applied so far (adam's bias correction needs it).
    public var updates: Int = 0
    /// The code that runs Adam's rule: the fastest this host has, all the same bits (tests force
    /// each).
    var adamKernel = AdamKernel.best
    /// Where `update(_:gradientSum:exampleCount:learningRate:into:)` writes the next moments, to
    /// be swapped in once all are known finite.
    private var nextFirstMoment: ParameterBuffer?
    private var nextSecondMoment: ParameterBuffer?

    public init(settings: OptimizerSettings, layout: ParameterLayout) {
        self.settings = settings
        firstMoment = settings.kind == .sgd ? nil : ParameterBuffer(layout: layout)
        secondMoment = settings.kind == .adam ? ParameterBuffer(layout: layout) : nil
        nextFirstMoment = settings.kind == .sgd ? nil : ParameterBuffer(layout: layout)
        nextSecondMoment = settings.kind == .adam ? ParameterBuffer(layout: layout) : nil
    }

    /// W, b −= update(Σ/m) with learning rate α, in place and unchecked.
    public func apply(
        to p: ParameterBuffer, gradientSum sum: ParameterBuffer, exampleCount m: Int, learningRate alpha: Float
    ) {
        precondition(m > 0, "a step must have examples")
        updates += 1
        forEachSegment(p.layout, within: 0..<p.count) { start, count, decay in
            _ = update(
                p, sum, from: start, count: count, m: m, alpha: alpha, decay: decay, t: updates, into: p.values,
                firstMoment, secondMoment)
        }
    }

    /// One update, checked as it is computed: the new W, b are written into `next`, and the new
    /// moments beside the current ones. When every new value is finite the moments are swapped
    /// in and it returns true: the caller then takes `next` as W, b (the same bits `apply` leaves
    /// in `p`). When any is not it returns false and nothing the optimizer or `p` holds has
    /// changed: a step that would overflow is refused, so W, b never hold an overflow.
    ///
    /// One pass over W, Σ and the moments, where checking and then applying take two.
    public func update(
        _ p: ParameterBuffer, gradientSum sum: ParameterBuffer, exampleCount m: Int, learningRate alpha: Float,
        into next: ParameterBuffer
    ) -> Bool {
        commit(marks: update(p, gradientSum: sum, range: 0..<p.count, exampleCount: m, learningRate: alpha, into: next))
    }

    /// Part of a checked update: the new values of `range`, any stretch of the flat buffer, into
    /// `next`, and the new moments beside the current ones; returns their finiteness marks
    /// (`Finiteness`). Nothing the optimizer or `p` holds changes until `commit(marks:)`, which
    /// follows once every value of the update is computed, each exactly once, in any order of
    /// ranges: the trainer updates each gradient segment as soon as its sum is complete, while
    /// the rest of the step is still arriving. Every value is computed by the same rule from the
    /// same inputs as a whole update computes it, so the bits are the same.
    public func update(
        _ p: ParameterBuffer, gradientSum sum: ParameterBuffer, range: Range<Int>, exampleCount m: Int,
        learningRate alpha: Float,
        into next: ParameterBuffer
    ) -> UInt32 {
        precondition(m > 0, "a step must have examples")
        precondition(
            next.count == p.count && next.isWritable && next.values != p.values,
            "the next W, b go into a buffer of their own")
        precondition(range.lowerBound >= 0 && range.upperBound <= p.count, "a range outside the parameters")
        var marks: UInt32 = 0
        forEachSegment(p.layout, within: range) { start, count, decay in
            marks |= update(
                p, sum, from: start, count: count, m: m, alpha: alpha, decay: decay, t: updates + 1, into: next.values,
                nextFirstMoment, nextSecondMoment)
        }
        return marks
    }

    /// Ends an update computed range by range: when `marks` (every range's, or-ed) say all new
    /// values are finite, the moments are swapped in, the update is counted and it returns true;
    /// otherwise nothing changes and it returns false.
    public func commit(marks: UInt32) -> Bool {
        guard Finiteness.allFinite(marks: marks) else { return false }
        updates += 1
        swap(&firstMoment, &nextFirstMoment)
        swap(&secondMoment, &nextSecondMoment)
        return true
    }

    /// The part of `range` in W[l] (with weight decay) and in b[l] (without), for every layer.
    private func forEachSegment(
        _ layout: ParameterLayout, within range: Range<Int>,
        _ body: (_ start: Int, _ count: Int, _ decay: Float) -> Void
    ) {
        func clipped(_ start: Int, _ count: Int, _ decay: Float) {
            let lower = max(start, range.lowerBound)
            let upper = min(start + count, range.upperBound)
            if lower < upper { body(lower, upper - lower, decay) }
        }
        for l in 1...layout.shape.depth {
            clipped(layout.weightOffsets[l], layout.weightCount(l), settings.weightDecay)
            clipped(layout.biasOffsets[l], layout.shape.layers[l], 0)
        }
    }

    /// One segment's update, read from `p` and the moments and written to `out` and `outFirst`,
    /// `outSecond` (which may be `p`'s values and the moments themselves: each value is read
    /// before it is written). Returns the new values' finiteness marks, or-ed (`Finiteness`):
    /// W, b and the moments that could overflow.
    ///
    /// Each rule (`UpdateRules.swift`) runs on vectors of Floats, lane by lane the operations of
    /// the scalar loop, then on the values left over; Adam's, where the CPU has AVX2 or AVX-512F,
    /// on wider vectors in C (`AdamKernel`).
    private func update(
        _ p: ParameterBuffer, _ sum: ParameterBuffer, from start: Int, count: Int, m: Int, alpha: Float, decay: Float,
        t updates: Int,
        into out: UnsafeMutablePointer<Float>, _ outFirst: ParameterBuffer?, _ outSecond: ParameterBuffer?
    ) -> UInt32 {
        let w = UnsafePointer(p.values + start)
        let s = UnsafePointer(sum.values + start)
        let o = out + start
        let mf = Float(m)
        switch settings.kind {
        case .sgd where decay == 0:
            return PlainSGD(w: w, sum: s, out: o, m: mf, alpha: alpha).run(count: count)
        case .sgd:
            return DecayedSGD(w: w, sum: s, out: o, m: mf, alpha: alpha, decay: decay).run(count: count)
        case .momentum:
            return Momentum(
                w: w, sum: s, velocity: firstMoment!.values + start, out: o, outVelocity: outFirst!.values + start,
                m: mf, alpha: alpha, decay: decay, mu: settings.momentum
            ).run(count: count)
        case .adam:
            let t = Float(updates)
            return AdamSegment(
                w: w, sum: s, first: firstMoment!.values + start, second: secondMoment!.values + start, out: o,
                outFirst: outFirst!.values + start, outSecond: outSecond!.values + start,
                m: mf, alpha: alpha, decay: decay, beta1: settings.beta1, beta2: settings.beta2,
                epsilon: settings.epsilon, correction1: 1 - Elementary.pow(settings.beta1, t),
                correction2: 1 - Elementary.pow(settings.beta2, t)
            ).run(count: count, kernel: adamKernel)
        }
    }
}
