import Testing

@testable import Core

/// Layer sizes covering both output layers: softmax with n_L = 2, 3 and 4, a single sigmoid unit,
/// one hidden layer, two, three, and none.
private let shapes: [[Int]] = [[5, 4, 3, 3], [6, 5, 4, 1], [4, 3], [3, 6, 4], [4, 1], [3, 5, 4, 4, 2]]

/// Examples per batch: odd, so a lost or doubled 1/m shows.
private let batchSize = 9

/// One random network and batch, with the pre-activations of every hidden layer at least
/// `kinkMargin` from zero, so finite differences and Float32 never straddle relu's kink.
private struct GradientCase {
    static let kinkMargin = 1e-3

    let parameters: ParameterBuffer
    let batch: ExampleBatch
    let reference: ReferenceNetwork

    init(layers: [Int], activation: Activation, count m: Int = batchSize, weightScale: Double = 1) throws {
        let shape = try NetworkShape(layers: layers, activation: activation)
        for seed in UInt64(1)...50 {
            let p = TestNetworks.randomParameters(shape, seed: seed, scale: weightScale)
            let batch = ExampleBatch(
                features: layers[0], count: m, classes: TestNetworks.classes(outputs: layers.last!), seed: seed)
            let reference = ReferenceNetwork(p)
            if reference.smallestHiddenPreactivation(batch.rows) >= Self.kinkMargin {
                (parameters, self.batch, self.reference) = (p, batch, reference)
                return
            }
        }
        throw GradientCaseError.noSeedAvoidsTheKink
    }

    /// Core's Σ dW, Σ db and evaluation of the batch.
    func coreGradientSum() -> (sum: ParameterBuffer, evaluation: OutputLayer.Evaluation) {
        let sum = ParameterBuffer(layout: parameters.layout)
        let workspace = Workspace(shape: parameters.layout.shape)
        let evaluation = batch.labels.withUnsafeBufferPointer { labels in
            Network.gradientSum(
                parameters, input: batch.features.storage, count: batch.count,
                labels: labels.baseAddress!, workspace: workspace, into: sum)
        }
        return (sum, evaluation)
    }
}

private enum GradientCaseError: Error { case noSeedAvoidsTheKink }

extension ReferenceNetwork {
    /// The smallest |Z[l]| over the hidden layers: relu's kink must be far from every example.
    fileprivate func smallestHiddenPreactivation(_ x: [[Double]]) -> Double {
        let pass = forward(x)
        var smallest = Double.infinity
        for l in stride(from: 1, to: depth, by: 1) {
            for row in pass.z[l] { for value in row { smallest = min(smallest, abs(value)) } }
        }
        return smallest
    }
}

/// max over every dW, db coordinate of |Core's Σ/m − the reference's gradient|.
private func largestDifference(coreSum sum: ParameterBuffer, count m: Int, reference g: ReferenceNetwork.Gradient)
    -> Double
{
    let layers = sum.layout.shape.layers
    var largest = 0.0
    for l in 1..<layers.count {
        let rows = layers[l]
        for i in 0..<rows {
            for j in 0..<layers[l - 1] {
                largest = max(largest, abs(Double(sum.weight(l)[i + j * rows]) / Double(m) - g.dW[l][i][j]))
            }
            largest = max(largest, abs(Double(sum.bias(l)[i]) / Double(m) - g.db[l][i]))
        }
    }
    return largest
}

/// The reference loss's central differences, (J(θ + h) − J(θ − h)) / 2h, coordinate by coordinate.
private func finiteDifferenceGradient(
    _ network: ReferenceNetwork, _ batch: ExampleBatch, h: Double
) -> ReferenceNetwork.Gradient {
    var net = network
    func difference(_ value: WritableKeyPath<ReferenceNetwork, Double>) -> Double {
        let saved = net[keyPath: value]
        net[keyPath: value] = saved + h
        let plus = net.loss(batch.rows, labels: batch.labels)
        net[keyPath: value] = saved - h
        let minus = net.loss(batch.rows, labels: batch.labels)
        net[keyPath: value] = saved
        return (plus - minus) / (2 * h)
    }
    var g = ReferenceNetwork.Gradient(dW: [[]], db: [[]])
    for l in 1...network.depth {
        g.dW.append(
            network.weights[l].indices.map { i in
                network.weights[l][i].indices.map { j in difference(\.weights[l][i][j]) }
            })
        g.db.append(network.biases[l].indices.map { i in difference(\.biases[l][i]) })
    }
    return g
}

@Suite struct GradientCheckTests {
    /// The reference's backward pass is the derivative of its own loss: checked against central
    /// differences in Float64, coordinate by coordinate, to a relative 1e-6.
    @Test(arguments: Activation.allCases, shapes)
    func referenceBackwardMatchesFiniteDifferences(activation: Activation, layers: [Int]) throws {
        let c = try GradientCase(layers: layers, activation: activation)
        let analytic = c.reference.gradient(c.batch.rows, labels: c.batch.labels)
        let numeric = finiteDifferenceGradient(c.reference, c.batch, h: 1e-6)

        // Central differences err by O(h²) from truncation and O(ε·J/h) ≈ 1e-10 from rounding.
        let pairs =
            Array(zip(analytic.dW.flatMap { $0.flatMap { $0 } }, numeric.dW.flatMap { $0.flatMap { $0 } }))
            + Array(zip(analytic.db.flatMap { $0 }, numeric.db.flatMap { $0 }))
        #expect(pairs.count == c.parameters.count)
        for (a, n) in pairs {
            #expect(abs(a - n) <= 1e-6 * max(abs(a), abs(n)) + 1e-9, "analytic \(a), finite difference \(n)")
        }
        #expect(analytic.maxMagnitude > 1e-3, "a vanishing gradient would make the check empty")
    }

    /// Core's Σ dW, Σ db divided by m is the reference's gradient, to what Float32 supports.
    @Test(arguments: Activation.allCases, shapes)
    func coreGradientMatchesReference(activation: Activation, layers: [Int]) throws {
        let c = try GradientCase(layers: layers, activation: activation)
        let (sum, _) = c.coreGradientSum()
        let g = c.reference.gradient(c.batch.rows, labels: c.batch.labels)
        let difference = largestDifference(coreSum: sum, count: c.batch.count, reference: g)
        #expect(difference <= 1e-5 * max(1, g.maxMagnitude), "max |Δ| \(difference), max |g| \(g.maxMagnitude)")
    }

    /// A first layer large enough to be cut into column blocks (`ParameterLayout.columnBlocks`)
    /// still gives the reference's gradient: the blocks cover W exactly once.
    @Test(arguments: [Activation.relu, .tanh])
    func blockedLayerGradientMatchesReference(activation: Activation) throws {
        let layers = [300, 260, 3]
        #expect(layers[0] * layers[1] > ParameterLayout.blockValues)
        let c = try GradientCase(layers: layers, activation: activation, weightScale: 0.2)
        #expect(c.parameters.layout.columnBlocks(layer: 1).count > 1, "the first layer must be cut")
        let (sum, _) = c.coreGradientSum()
        let g = c.reference.gradient(c.batch.rows, labels: c.batch.labels)
        let difference = largestDifference(coreSum: sum, count: c.batch.count, reference: g)
        #expect(difference <= 1e-5 * max(1, g.maxMagnitude), "max |Δ| \(difference), max |g| \(g.maxMagnitude)")
    }

    /// Core's loss sum divided by m is the reference's mean loss J.
    @Test(arguments: Activation.allCases, shapes)
    func coreLossMatchesReference(activation: Activation, layers: [Int]) throws {
        let c = try GradientCase(layers: layers, activation: activation)
        let (_, evaluation) = c.coreGradientSum()
        let j = c.reference.loss(c.batch.rows, labels: c.batch.labels)
        let coreJ = evaluation.lossSum / Double(c.batch.count)
        #expect(abs(coreJ - j) <= 1e-6 * max(1, abs(j)), "Core J \(coreJ), reference J \(j)")
    }

    /// `forward` leaves A[L] in the workspace and counts the examples it classifies correctly.
    @Test(arguments: Activation.allCases, shapes)
    func forwardOutputsAndCorrectCountMatchReference(activation: Activation, layers: [Int]) throws {
        let c = try GradientCase(layers: layers, activation: activation, count: 40)
        let workspace = Workspace(shape: c.parameters.layout.shape)
        let evaluation = c.batch.labels.withUnsafeBufferPointer { labels in
            Network.forward(
                c.parameters, input: c.batch.features.storage, count: c.batch.count,
                labels: labels.baseAddress!, workspace: workspace)
        }
        let expected = c.reference.correctCount(c.batch.rows, labels: c.batch.labels)
        #expect(evaluation.correct == expected)
        #expect(expected > 0 && expected < c.batch.count, "all right or all wrong would hide a miscount")

        let aL = c.reference.forward(c.batch.rows).a[layers.count - 1]
        let nL = layers.last!
        for j in 0..<c.batch.count {
            for i in 0..<nL {
                let core = Double(workspace.output[i + j * nL])
                #expect(abs(core - aL[i][j]) <= 1e-6, "A[L][\(i), \(j)]: Core \(core), reference \(aL[i][j])")
            }
        }
    }

    /// Gradient and loss hold for a single example and for a batch larger than the first, reusing
    /// one workspace (it grows, then serves a smaller batch from the larger buffers).
    @Test(arguments: Activation.allCases)
    func workspaceReuseAcrossBatchSizes(activation: Activation) throws {
        let workspace = try Workspace(shape: NetworkShape(layers: [5, 4, 3, 3], activation: activation))
        for m in [1, 37, 2] {
            let c = try GradientCase(layers: [5, 4, 3, 3], activation: activation, count: m)
            let sum = ParameterBuffer(layout: c.parameters.layout)
            sum.fill(.nan)
            let evaluation = c.batch.labels.withUnsafeBufferPointer { labels in
                Network.gradientSum(
                    c.parameters, input: c.batch.features.storage, count: m,
                    labels: labels.baseAddress!, workspace: workspace, into: sum)
            }
            let g = c.reference.gradient(c.batch.rows, labels: c.batch.labels)
            let difference = largestDifference(coreSum: sum, count: m, reference: g)
            #expect(difference <= 1e-5 * max(1, g.maxMagnitude), "m = \(m): max |Δ| \(difference)")
            let j = c.reference.loss(c.batch.rows, labels: c.batch.labels)
            #expect(abs(evaluation.lossSum / Double(m) - j) <= 1e-6 * max(1, j), "m = \(m)")
        }
    }

    /// Logits in the hundreds overflow e^z in Float32; the loss is computed from the logits
    /// (log-sum-exp, log(1 + e^−|z|)), so it stays finite and right, and so does the gradient.
    @Test(arguments: [[5, 4, 3, 3], [6, 5, 4, 1]])
    func saturatedOutputsStayFiniteAndCorrect(layers: [Int]) throws {
        let c = try GradientCase(layers: layers, activation: .tanh, weightScale: 300)
        let pass = c.reference.forward(c.batch.rows)
        let largestLogit = pass.z[layers.count - 1].flatMap { $0 }.map(abs).max()!
        #expect(largestLogit > 100, "the case must actually saturate")

        let (sum, evaluation) = c.coreGradientSum()
        #expect(sum.isFinite)
        let j = c.reference.loss(c.batch.rows, labels: c.batch.labels)
        #expect(abs(evaluation.lossSum / Double(c.batch.count) - j) <= 1e-5 * max(1, j), "reference J \(j)")
        let g = c.reference.gradient(c.batch.rows, labels: c.batch.labels)
        let difference = largestDifference(coreSum: sum, count: c.batch.count, reference: g)
        #expect(difference <= 1e-4 * max(1, g.maxMagnitude), "max |Δ| \(difference), max |g| \(g.maxMagnitude)")
    }
}
