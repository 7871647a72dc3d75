import Core

/// Core's Float64 `ReferenceNetwork` on the harness's terms: a model file's weights, a CSV's
/// examples. It shares no arithmetic with the binaries it checks.
extension ReferenceNetwork {
    init(_ model: ModelWeights) {
        guard let activation = Activation(rawValue: model.activation) else {
            preconditionFailure("unknown activation \(model.activation)")
        }
        self.init(layers: model.layers, activation: activation, weights: model.weights, biases: model.biases)
    }

    /// The output probabilities of one example, A[L] of its (n0) features.
    func probabilities(_ x: [Double]) -> [Double] {
        forward(x.map { [$0] }).a[depth].map { $0[0] }
    }

    /// (accuracy, mean loss) over a data set.
    func evaluate(_ data: LabelledData) -> (accuracy: Double, loss: Double) {
        let (x, labels) = data.columns
        return (Double(correctCount(x, labels: labels)) / Double(data.count), loss(x, labels: labels))
    }

    /// The weights after one full-batch SGD step: W − α·dW, b − α·db.
    func sgdStep(_ data: LabelledData, learningRate alpha: Double) -> ModelWeights {
        let (x, labels) = data.columns
        let g = gradient(x, labels: labels)
        var next = ModelWeights(layers: layers, activation: activation.rawValue, weights: weights, biases: biases)
        for l in 1...depth {
            next.weights[l] = zip(weights[l], g.dW[l]).map { zip($0, $1).map { $0 - alpha * $1 } }
            next.biases[l] = zip(biases[l], g.db[l]).map { $0 - alpha * $1 }
        }
        return next
    }
}

extension LabelledData {
    /// X (n0, m), one column per example, and the labels: the reference's layout.
    fileprivate var columns: (x: [[Double]], labels: [Int32]) {
        let x = (0..<featureCount).map { i in rows.map { $0[i] } }
        return (x, labels.map(Int32.init))
    }
}
