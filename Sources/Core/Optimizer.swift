#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
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
    public let firstMoment: ParameterBuffer?
    /// adam: the second moment v.
    public let secondMoment: ParameterBuffer?
    /// Updates applied so far (adam's bias correction needs it).
    public var updates: Int = 0

    public init(settings: OptimizerSettings, layout: ParameterLayout) {
        self.settings = settings
        firstMoment = settings.kind == .sgd ? nil : ParameterBuffer(layout: layout)
        secondMoment = settings.kind == .adam ? ParameterBuffer(layout: layout) : nil
    }

    /// W, b −= update(Σ/m) with learning rate α.
    public func apply(to p: ParameterBuffer, gradientSum sum: ParameterBuffer, exampleCount m: Int, learningRate alpha: Float) {
        precondition(m > 0, "a step must have examples")
        updates += 1
        forEachSegment(p) { start, count, decay in
            _ = update(p, sum, from: start, count: count, m: m, alpha: alpha, decay: decay, write: true)
        }
    }

    /// Whether `apply` with these arguments would leave every parameter and moment finite; it
    /// changes nothing. A step that would not is refused, so W, b never hold an overflow.
    public func updateStaysFinite(_ p: ParameterBuffer, gradientSum sum: ParameterBuffer, exampleCount m: Int, learningRate alpha: Float) -> Bool {
        updates += 1
        defer { updates -= 1 }
        var finite = true
        forEachSegment(p) { start, count, decay in
            if finite { finite = update(p, sum, from: start, count: count, m: m, alpha: alpha, decay: decay, write: false) }
        }
        return finite
    }

    /// W[l] with weight decay, then b[l] without, for every layer.
    private func forEachSegment(_ p: ParameterBuffer, _ body: (_ start: Int, _ count: Int, _ decay: Float) -> Void) {
        let layout = p.layout
        for l in 1...layout.shape.depth {
            body(layout.weightOffsets[l], layout.weightCount(l), settings.weightDecay)
            body(layout.biasOffsets[l], layout.shape.layers[l], 0)
        }
    }

    /// One segment's update; with `write` false it only reports whether every new value is finite.
    ///
    /// Each rule is written out once per mode so both loops vectorise: the check ors the values'
    /// finiteness marks together (`Finiteness`) instead of branching on every value.
    private func update(
        _ p: ParameterBuffer, _ sum: ParameterBuffer, from start: Int, count: Int, m: Int, alpha: Float, decay: Float, write: Bool
    ) -> Bool {
        let w = p.values + start
        let s = sum.values + start
        let mf = Float(m)
        var marks: UInt32 = 0
        switch settings.kind {
        case .sgd:
            switch (decay == 0, write) {
            case (true, true):
                for i in 0..<count { w[i] = w[i] - alpha * (s[i] / mf) }
            case (true, false):
                for i in 0..<count { marks |= Finiteness.mark(w[i] - alpha * (s[i] / mf)) }
            case (false, true):
                for i in 0..<count { w[i] = w[i] - alpha * (s[i] / mf + decay * w[i]) }
            case (false, false):
                for i in 0..<count { marks |= Finiteness.mark(w[i] - alpha * (s[i] / mf + decay * w[i])) }
            }
        case .momentum:
            let v = firstMoment!.values + start
            let mu = settings.momentum
            if write {
                for i in 0..<count {
                    let velocity = mu * v[i] + (s[i] / mf + decay * w[i])
                    v[i] = velocity
                    w[i] = w[i] - alpha * velocity
                }
            } else {
                for i in 0..<count {
                    let velocity = mu * v[i] + (s[i] / mf + decay * w[i])
                    marks |= Finiteness.mark(velocity) | Finiteness.mark(w[i] - alpha * velocity)
                }
            }
        case .adam:
            let m1 = firstMoment!.values + start
            let m2 = secondMoment!.values + start
            let b1 = settings.beta1, b2 = settings.beta2, eps = settings.epsilon
            let t = Float(updates)
            let correction1 = 1 - Glibc.pow(b1, t)
            let correction2 = 1 - Glibc.pow(b2, t)
            for i in 0..<count {
                let g = s[i] / mf + decay * w[i]
                let first = b1 * m1[i] + (1 - b1) * g
                let second = b2 * m2[i] + (1 - b2) * g * g
                let next = w[i] - alpha * (first / correction1) / ((second / correction2).squareRoot() + eps)
                if write {
                    m1[i] = first
                    m2[i] = second
                    w[i] = next
                } else {
                    marks |= Finiteness.mark(next) | Finiteness.mark(second)
                }
            }
        }
        return Finiteness.allFinite(marks: marks)
    }
}
