/// Loss and accuracy of parameters over a whole dataset, in chunks so memory stays bounded.
public struct Evaluator {
    public struct Result: Sendable, Equatable {
        public let examples: Int
        public let correct: Int
        public let lossSum: Double
        public var accuracy: Double { examples == 0 ? 0 : Double(correct) / Double(examples) }
        public var loss: Double { examples == 0 ? 0 : lossSum / Double(examples) }
    }

    /// Examples per forward pass.
    public static let chunk = 4096

    private let workspace: Workspace

    public init(shape: NetworkShape) {
        workspace = Workspace(shape: shape)
    }

    public func evaluate(_ p: ParameterBuffer, on data: Dataset) -> Result {
        var correct = 0
        var lossSum = 0.0
        let n0 = data.featureCount
        data.labels.withUnsafeBufferPointer { labels in
            var start = 0
            while start < data.count {
                let m = min(Evaluator.chunk, data.count - start)
                let e = Network.forward(
                    p, input: data.features.storage + start * n0, count: m,
                    labels: labels.baseAddress! + start, workspace: workspace)
                correct += e.correct
                lossSum += e.lossSum
                start += m
            }
        }
        return Result(examples: data.count, correct: correct, lossSum: lossSum)
    }

    /// The output probabilities of every example: (n_L, m) column-major, as rows of n_L values.
    public func predict(_ p: ParameterBuffer, on features: Matrix) -> [[Float]] {
        let nL = p.layout.shape.outputs
        var rows: [[Float]] = []
        rows.reserveCapacity(features.cols)
        var start = 0
        while start < features.cols {
            let m = min(Evaluator.chunk, features.cols - start)
            Network.forward(
                p, input: features.storage + start * features.rows, count: m, labels: nil, workspace: workspace)
            let out = workspace.output
            for j in 0..<m { rows.append(Array(UnsafeBufferPointer(start: out + j * nL, count: nL))) }
            start += m
        }
        return rows
    }
}
