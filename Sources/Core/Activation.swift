#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A hidden layer's nonlinearity g, with the fused passes the network needs around each gemm.
public enum Activation: String, Sendable, CaseIterable {
    case relu
    case tanh
    case sigmoid
    case leakyRelu = "leaky-relu"

    /// Leaky ReLU's slope below zero.
    public static let leakySlope: Float = 0.01

    /// g(z) for one value: the definition the fused passes must agree with.
    @inline(__always)
    public func value(_ z: Float) -> Float {
        switch self {
        case .relu: return z > 0 ? z : 0
        case .leakyRelu: return z > 0 ? z : Activation.leakySlope * z
        case .tanh: return Elementary.tanh(z)
        case .sigmoid: return Activation.logistic(z)
        }
    }

    /// g′ expressed through a = g(z), so the forward pass need not keep Z beside A.
    ///
    /// relu and leaky-relu: a > 0 exactly when z > 0; tanh′ = 1 − a²; sigmoid′ = a(1 − a).
    @inline(__always)
    public func derivative(fromOutput a: Float) -> Float {
        switch self {
        case .relu: return a > 0 ? 1 : 0
        case .leakyRelu: return a > 0 ? 1 : Activation.leakySlope
        case .tanh: return 1 - a * a
        case .sigmoid: return a * (1 - a)
        }
    }

    /// 1 / (1 + e^−z), without overflow for large |z|.
    @inline(__always)
    public static func logistic(_ z: Float) -> Float { Elementary.logistic(z) }

    /// A = g(Z + b) in place: Z (n, m) holds W·A_prev on entry and A on return; b is (n).
    public func addBiasAndActivate(
        _ z: UnsafeMutablePointer<Float>, rows n: Int, cols m: Int, bias b: UnsafePointer<Float>
    ) {
        switch self {
        case .relu:
            for j in 0..<m {
                let col = z + j * n
                for i in 0..<n {
                    let v = col[i] + b[i]
                    col[i] = v > 0 ? v : 0
                }
            }
        case .leakyRelu:
            for j in 0..<m {
                let col = z + j * n
                for i in 0..<n {
                    let v = col[i] + b[i]
                    col[i] = v > 0 ? v : Activation.leakySlope * v
                }
            }
        case .tanh, .sigmoid:
            for j in 0..<m {
                let col = z + j * n
                for i in 0..<n { col[i] += b[i] }
            }
            // One call over the whole matrix: the functions are vectorised, and give the bits of
            // `value(_:)`.
            if self == .tanh {
                Elementary.tanh(inPlace: z, count: n * m)
            } else {
                Elementary.logistic(inPlace: z, count: n * m)
            }
        }
    }

    /// dZ = dA ⊙ g′(Z), written over A: `a` (n, m) holds A on entry and dZ on return.
    public func multiplyDerivative(
        intoOutput a: UnsafeMutablePointer<Float>, gradient dA: UnsafePointer<Float>, count: Int
    ) {
        switch self {
        // dA[i] is loaded whatever the sign, so the choice is a select, not a branch: with a
        // branch on random signs this pass cost as much as a tenth of the step.
        case .relu:
            for i in 0..<count {
                let d = dA[i]
                a[i] = a[i] > 0 ? d : 0
            }
        case .leakyRelu:
            for i in 0..<count {
                let d = dA[i]
                a[i] = a[i] > 0 ? d : Activation.leakySlope * d
            }
        case .tanh:
            for i in 0..<count {
                let v = a[i]
                a[i] = dA[i] * (1 - v * v)
            }
        case .sigmoid:
            for i in 0..<count {
                let v = a[i]
                a[i] = dA[i] * (v * (1 - v))
            }
        }
    }
}
