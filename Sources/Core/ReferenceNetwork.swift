#if canImport(Glibc)
    import Glibc
#endif

/// The network in Float64, written straight from the formulas with plain loops: the slow, obvious
/// oracle that `Network`'s forward and backward are held against.
///
/// Every matrix is row-major `[[Double]]`, indexed `[row][column]`: W[l] is (n_l, n_{l−1}),
/// b[l] is (n_l), X and A[l], Z[l] are (n_l, m) with one column per example. It shares no
/// arithmetic with `Network`: no BLAS, no Float32, g′ from Z rather than from A.
public struct ReferenceNetwork: Sendable {
    /// n0 … nL.
    public let layers: [Int]
    public let activation: Activation
    /// W[l] for l in 1…L; index 0 is unused.
    public var weights: [[[Double]]]
    /// b[l] for l in 1…L; index 0 is unused.
    public var biases: [[Double]]

    public var depth: Int { layers.count - 1 }

    /// dW[l], db[l] with the formulas' 1/m: the gradient of the mean loss J.
    public struct Gradient: Sendable {
        public var dW: [[[Double]]]
        public var db: [[Double]]

        public init(dW: [[[Double]]], db: [[Double]]) {
            self.dW = dW
            self.db = db
        }

        /// max |value| over every dW and db.
        public var maxMagnitude: Double {
            let weights = dW.flatMap { $0.flatMap { $0 } }
            return (weights + db.flatMap { $0 }).map(abs).max() ?? 0
        }
    }

    /// The Z[l] and A[l] of one forward pass; index 0 of `a` is X, index 0 of `z` is unused.
    public struct Pass: Sendable {
        public var z: [[[Double]]]
        public var a: [[[Double]]]
    }

    /// W[l] (n_l, n_{l−1}) and b[l] (n_l) for l in 1…L, index 0 unused.
    public init(layers: [Int], activation: Activation, weights: [[[Double]]], biases: [[Double]]) {
        self.layers = layers
        self.activation = activation
        self.weights = weights
        self.biases = biases
    }

    /// The parameters held in `p`, widened to Float64 exactly.
    public init(_ p: ParameterBuffer) {
        let shape = p.layout.shape
        var weights: [[[Double]]] = [[]]
        var biases: [[Double]] = [[]]
        for l in 1...shape.depth {
            let rows = shape.layers[l]
            let cols = shape.layers[l - 1]
            let w = p.weight(l)
            let b = p.bias(l)
            // `ParameterBuffer` keeps W[l] column-major: element (i, k) at i + k·rows.
            weights.append((0..<rows).map { i in (0..<cols).map { k in Double(w[i + k * rows]) } })
            biases.append((0..<rows).map { i in Double(b[i]) })
        }
        self.init(layers: shape.layers, activation: shape.activation, weights: weights, biases: biases)
    }

    // MARK: Forward

    /// X is (n0, m). Z[l] = W[l]·A[l−1] + b[l]; A[l] = g(Z[l]) for hidden layers, the output
    /// function for l = L.
    public func forward(_ x: [[Double]]) -> Pass {
        let m = x[0].count
        var pass = Pass(z: [[]], a: [x])
        for l in 1...depth {
            var z = Self.zeros(layers[l], m)
            for i in 0..<layers[l] {
                for j in 0..<m {
                    var sum = biases[l][i]
                    for k in 0..<layers[l - 1] { sum += weights[l][i][k] * pass.a[l - 1][k][j] }
                    z[i][j] = sum
                }
            }
            let a = l < depth ? z.map { $0.map(hidden) } : output(z)
            pass.z.append(z)
            pass.a.append(a)
        }
        return pass
    }

    /// X is (n0, m), labels (m). J = (1/m) Σ_j loss(example j).
    public func loss(_ x: [[Double]], labels: [Int32]) -> Double {
        let zL = forward(x).z[depth]
        let m = labels.count
        var sum = 0.0
        for j in 0..<m { sum += exampleLoss(logits: zL.map { $0[j] }, label: Int(labels[j])) }
        return sum / Double(m)
    }

    /// X is (n0, m), labels (m). How many examples the network classifies correctly: the largest
    /// probability (the first on ties) for softmax, A ≥ ½ meaning class 1 for a sigmoid output.
    public func correctCount(_ x: [[Double]], labels: [Int32]) -> Int {
        let aL = forward(x).a[depth]
        var correct = 0
        for j in 0..<labels.count {
            let predicted: Int
            if layers[depth] == 1 {
                predicted = aL[0][j] >= 0.5 ? 1 : 0
            } else {
                var best = 0
                for i in 1..<layers[depth] where aL[i][j] > aL[best][j] { best = i }
                predicted = best
            }
            if predicted == Int(labels[j]) { correct += 1 }
        }
        return correct
    }

    // MARK: Backward

    /// X is (n0, m), labels (m). dZ[L] = A[L] − Y; for l = L…1: dW[l] = (1/m)·dZ[l]·A[l−1]ᵀ,
    /// db[l] = (1/m)·Σ_j dZ[l][:, j], then dA[l−1] = W[l]ᵀ·dZ[l], dZ[l−1] = dA[l−1] ⊙ g′(Z[l−1]).
    public func gradient(_ x: [[Double]], labels: [Int32]) -> Gradient {
        let m = labels.count
        let pass = forward(x)
        var gradient = Gradient(dW: Array(repeating: [], count: depth + 1), db: Array(repeating: [], count: depth + 1))
        var dZ = pass.a[depth]
        for j in 0..<m {
            for i in 0..<layers[depth] {
                let y: Double = layers[depth] == 1 ? Double(labels[j]) : (i == Int(labels[j]) ? 1 : 0)
                dZ[i][j] -= y
            }
        }
        for l in stride(from: depth, through: 1, by: -1) {
            var dW = Self.zeros(layers[l], layers[l - 1])
            var db = [Double](repeating: 0, count: layers[l])
            for i in 0..<layers[l] {
                for k in 0..<layers[l - 1] {
                    var sum = 0.0
                    for j in 0..<m { sum += dZ[i][j] * pass.a[l - 1][k][j] }
                    dW[i][k] = sum / Double(m)
                }
                db[i] = dZ[i].reduce(0, +) / Double(m)
            }
            gradient.dW[l] = dW
            gradient.db[l] = db
            guard l > 1 else { break }
            var dZPrevious = Self.zeros(layers[l - 1], m)
            for k in 0..<layers[l - 1] {
                for j in 0..<m {
                    var dA = 0.0
                    for i in 0..<layers[l] { dA += weights[l][i][k] * dZ[i][j] }
                    dZPrevious[k][j] = dA * hiddenDerivative(pass.z[l - 1][k][j])
                }
            }
            dZ = dZPrevious
        }
        return gradient
    }

    // MARK: The functions, in Float64

    private static let leakySlope = 0.01

    private func hidden(_ z: Double) -> Double {
        switch activation {
        case .relu: return max(z, 0)
        case .leakyRelu: return z > 0 ? z : Self.leakySlope * z
        case .tanh: return tanh(z)
        case .sigmoid: return 1 / (1 + exp(-z))
        }
    }

    /// g′(z), from Z itself.
    private func hiddenDerivative(_ z: Double) -> Double {
        switch activation {
        case .relu: return z > 0 ? 1 : 0
        case .leakyRelu: return z > 0 ? 1 : Self.leakySlope
        case .tanh:
            let t = tanh(z)
            return 1 - t * t
        case .sigmoid:
            let s = 1 / (1 + exp(-z))
            return s * (1 - s)
        }
    }

    /// softmax of each column (n_L ≥ 2) or the logistic function (n_L = 1).
    private func output(_ z: [[Double]]) -> [[Double]] {
        var a = z
        for j in 0..<z[0].count {
            if layers[depth] == 1 {
                a[0][j] = 1 / (1 + exp(-z[0][j]))
            } else {
                let column = z.map { $0[j] }
                let lse = Self.logSumExp(column)
                for i in column.indices { a[i][j] = exp(column[i] - lse) }
            }
        }
        return a
    }

    /// −log softmax_y(z), or binary cross-entropy of the logit: max(z, 0) − z·y + log(1 + e^−|z|).
    private func exampleLoss(logits z: [Double], label y: Int) -> Double {
        if layers[depth] == 1 {
            let v = z[0]
            return max(v, 0) - v * Double(y) + log1p(exp(-abs(v)))
        }
        return Self.logSumExp(z) - z[y]
    }

    private static func logSumExp(_ values: [Double]) -> Double {
        let top = values.max()!
        return top + log(values.reduce(0) { $0 + exp($1 - top) })
    }

    private static func zeros(_ rows: Int, _ cols: Int) -> [[Double]] {
        Array(repeating: Array(repeating: 0, count: cols), count: rows)
    }
}
