import Foundation

/// The contract's network in Float64, written from the formulas and sharing no code with Core:
/// the oracle the binaries' outputs are held against.
///
/// One example at a time, as column vectors: z[l] = W[l]·a[l−1] + b[l]; a[l] = g(z[l]) for hidden
/// layers, softmax (n_L ≥ 2) or the logistic function (n_L = 1) for the last.
struct ReferenceNetwork {
    var model: ModelWeights

    init(_ model: ModelWeights) { self.model = model }

    private var depth: Int { model.depth }
    private var isSigmoidOutput: Bool { model.layers[depth] == 1 }

    /// z[l] and a[l] for l = 0…L (z[0] unused, a[0] = x).
    func forward(_ x: [Double]) -> (z: [[Double]], a: [[Double]]) {
        var z: [[Double]] = [[]], a: [[Double]] = [x]
        for l in 1...depth {
            let zl = (0..<model.layers[l]).map { i in
                zip(model.weights[l][i], a[l - 1]).reduce(model.biases[l][i]) { $0 + $1.0 * $1.1 }
            }
            z.append(zl)
            a.append(l < depth ? zl.map(hidden) : output(zl))
        }
        return (z, a)
    }

    /// The output probabilities of one example.
    func probabilities(_ x: [Double]) -> [Double] { forward(x).a[depth] }

    /// The predicted class: the largest probability (first on ties), or p ≥ ½ for a sigmoid.
    func predictedClass(_ x: [Double]) -> Int {
        let p = probabilities(x)
        if isSigmoidOutput { return p[0] >= 0.5 ? 1 : 0 }
        return p.indices.reduce(0) { p[$1] > p[$0] ? $1 : $0 }
    }

    /// Cross-entropy of one example: −log softmax_y, or binary cross-entropy for a sigmoid.
    func loss(_ x: [Double], label y: Int) -> Double {
        let zL = forward(x).z[depth]
        if isSigmoidOutput {
            let v = zL[0]
            return max(v, 0) - v * Double(y) + log1p(exp(-abs(v)))
        }
        let top = zL.max()!
        return log(zL.reduce(0) { $0 + exp($1 - top) }) + top - zL[y]
    }

    /// (accuracy, mean loss) over a data set.
    func evaluate(_ data: LabelledData) -> (accuracy: Double, loss: Double) {
        var correct = 0, lossSum = 0.0
        for (x, y) in zip(data.rows, data.labels) {
            if predictedClass(x) == y { correct += 1 }
            lossSum += loss(x, label: y)
        }
        return (Double(correct) / Double(data.count), lossSum / Double(data.count))
    }

    /// dW[l] and db[l] of the mean loss over all examples:
    /// dZ[L] = A[L] − Y; dW = (1/m)·dZ·A_prevᵀ; db = (1/m)·row sums of dZ; dA = Wᵀ·dZ; dZ = dA ⊙ g′(Z).
    func gradient(_ data: LabelledData) -> (dW: [[[Double]]], db: [[Double]]) {
        var dW = (0...depth).map { l in l == 0 ? [] : (0..<model.layers[l]).map { _ in [Double](repeating: 0, count: model.layers[l - 1]) } }
        var db = (0...depth).map { l in l == 0 ? [] : [Double](repeating: 0, count: model.layers[l]) }
        for (x, y) in zip(data.rows, data.labels) {
            let (z, a) = forward(x)
            var dz = a[depth]
            if isSigmoidOutput { dz[0] -= Double(y) } else { dz[y] -= 1 }
            for l in stride(from: depth, through: 1, by: -1) {
                for i in 0..<model.layers[l] {
                    db[l][i] += dz[i]
                    for k in 0..<model.layers[l - 1] { dW[l][i][k] += dz[i] * a[l - 1][k] }
                }
                guard l > 1 else { break }
                dz = (0..<model.layers[l - 1]).map { k in
                    let da = (0..<model.layers[l]).reduce(0.0) { $0 + model.weights[l][$1][k] * dz[$1] }
                    return da * hiddenDerivative(z[l - 1][k])
                }
            }
        }
        let m = Double(data.count)
        return (dW.map { $0.map { $0.map { $0 / m } } }, db.map { $0.map { $0 / m } })
    }

    /// The weights after one full-batch SGD step: W − α·dW, b − α·db.
    func sgdStep(_ data: LabelledData, learningRate alpha: Double) -> ModelWeights {
        let (dW, db) = gradient(data)
        var next = model
        for l in 1...depth {
            next.weights[l] = zip(model.weights[l], dW[l]).map { zip($0, $1).map { $0 - alpha * $1 } }
            next.biases[l] = zip(model.biases[l], db[l]).map { $0 - alpha * $1 }
        }
        return next
    }

    // MARK: The functions

    private func hidden(_ z: Double) -> Double {
        switch model.activation {
        case "relu": return max(z, 0)
        case "leaky-relu": return z > 0 ? z : 0.01 * z
        case "tanh": return tanh(z)
        case "sigmoid": return 1 / (1 + exp(-z))
        default: preconditionFailure("unknown activation \(model.activation)")
        }
    }

    private func hiddenDerivative(_ z: Double) -> Double {
        switch model.activation {
        case "relu": return z > 0 ? 1 : 0
        case "leaky-relu": return z > 0 ? 1 : 0.01
        case "tanh": return 1 - tanh(z) * tanh(z)
        case "sigmoid": let s = 1 / (1 + exp(-z)); return s * (1 - s)
        default: preconditionFailure("unknown activation \(model.activation)")
        }
    }

    private func output(_ z: [Double]) -> [Double] {
        if isSigmoidOutput { return [1 / (1 + exp(-z[0]))] }
        let top = z.max()!
        let e = z.map { exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}
