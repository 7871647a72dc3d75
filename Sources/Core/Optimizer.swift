import Foundation

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
        let layout = p.layout
        for l in 1...layout.shape.depth {
            update(p, sum, from: layout.weightOffsets[l], count: layout.weightCount(l), m: m, alpha: alpha, decay: settings.weightDecay)
            update(p, sum, from: layout.biasOffsets[l], count: layout.shape.layers[l], m: m, alpha: alpha, decay: 0)
        }
    }

    private func update(_ p: ParameterBuffer, _ sum: ParameterBuffer, from start: Int, count: Int, m: Int, alpha: Float, decay: Float) {
        let w = p.values + start
        let s = sum.values + start
        let mf = Float(m)
        switch settings.kind {
        case .sgd:
            if decay == 0 {
                for i in 0..<count { w[i] -= alpha * (s[i] / mf) }
            } else {
                for i in 0..<count { w[i] -= alpha * (s[i] / mf + decay * w[i]) }
            }
        case .momentum:
            let v = firstMoment!.values + start
            let mu = settings.momentum
            for i in 0..<count {
                v[i] = mu * v[i] + (s[i] / mf + decay * w[i])
                w[i] -= alpha * v[i]
            }
        case .adam:
            let m1 = firstMoment!.values + start
            let m2 = secondMoment!.values + start
            let b1 = settings.beta1, b2 = settings.beta2, eps = settings.epsilon
            let t = Float(updates)
            let correction1 = 1 - Foundation.pow(b1, t)
            let correction2 = 1 - Foundation.pow(b2, t)
            for i in 0..<count {
                let g = s[i] / mf + decay * w[i]
                m1[i] = b1 * m1[i] + (1 - b1) * g
                m2[i] = b2 * m2[i] + (1 - b2) * g * g
                let mHat = m1[i] / correction1
                let vHat = m2[i] / correction2
                w[i] -= alpha * mHat / (vHat.squareRoot() + eps)
            }
        }
    }
}
