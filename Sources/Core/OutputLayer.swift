#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The last layer's activation and its loss, paired so that dZ[L] = A[L] − Y.
///
/// softmax + categorical cross-entropy when n_L ≥ 2, sigmoid + binary cross-entropy when n_L = 1
/// (Bishop, *Pattern Recognition and Machine Learning*, §4.3.2 and §5.2).
public enum OutputLayer: String, Sendable {
    case softmax
    case sigmoid

    public init(classes: Int) { self = classes == 1 ? .sigmoid : .softmax }

    /// How many distinct labels the layer can learn: n_L, or 2 for a single sigmoid unit.
    public static func labelCount(outputs: Int) -> Int { outputs == 1 ? 2 : outputs }

    /// Loss and correctness of a forward pass over a batch.
    public struct Evaluation: Sendable {
        public var lossSum: Double = 0
        public var correct: Int = 0
    }

    /// A = output(Z + b) in place, column by column; with labels, also Σ loss and the correct count.
    ///
    /// Z (n, m) holds W·A_prev on entry and A on return; labels (m). The loss uses the logits
    /// directly (log-sum-exp; log(1 + e^−|z|)), so it stays finite whatever the scores.
    public func addBiasAndActivate(
        _ z: UnsafeMutablePointer<Float>, rows n: Int, cols m: Int,
        bias b: UnsafePointer<Float>, labels: UnsafePointer<Int32>?
    ) -> Evaluation {
        var result = Evaluation()
        switch self {
        case .softmax:
            for j in 0..<m {
                let col = z + j * n
                var maxValue = -Float.infinity
                var argmax = 0
                for i in 0..<n {
                    let v = col[i] + b[i]
                    col[i] = v
                    if v > maxValue {
                        maxValue = v
                        argmax = i
                    }
                }
                let y = labels.map { Int($0[j]) } ?? 0
                let shiftedTarget = col[y] - maxValue
                for i in 0..<n { col[i] -= maxValue }
                Elementary.exp(inPlace: col, count: n)
                var sum: Float = 0
                for i in 0..<n { sum += col[i] }
                if labels != nil {
                    // −log softmax_y = log Σ e^(z_i − max) − (z_y − max); sum ≥ 1, so the log is finite.
                    result.lossSum += Double(Elementary.log(sum)) - Double(shiftedTarget)
                    if argmax == y { result.correct += 1 }
                }
                let inverse = 1 / sum
                for i in 0..<n { col[i] *= inverse }
            }
        case .sigmoid:
            for j in 0..<m {
                let v = z[j] + b[0]
                let a = Activation.logistic(v)
                z[j] = a
                if let labels {
                    let y = Float(labels[j])
                    // Binary cross-entropy from the logit: max(v, 0) − v·y + log(1 + e^−|v|).
                    result.lossSum += Double(max(v, 0) - v * y + Elementary.log1p(Elementary.exp(-abs(v))))
                    if (a >= 0.5) == (y == 1) { result.correct += 1 }
                }
            }
        }
        return result
    }

    /// dZ[L] = A[L] − Y in place: Y is the one-hot of the labels (or the label itself for sigmoid).
    public func subtractTargets(
        _ a: UnsafeMutablePointer<Float>, rows n: Int, cols m: Int, labels: UnsafePointer<Int32>
    ) {
        switch self {
        case .softmax:
            for j in 0..<m { a[j * n + Int(labels[j])] -= 1 }
        case .sigmoid:
            for j in 0..<m { a[j] -= Float(labels[j]) }
        }
    }
}
