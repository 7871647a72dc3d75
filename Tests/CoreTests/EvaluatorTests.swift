import Testing

@testable import Core

@Suite struct EvaluatorTests {
    /// More examples than one chunk, so the chunks must add up: loss and accuracy are the
    /// reference's over the whole set.
    @Test(arguments: [[6, 8, 3], [6, 5, 1]])
    func evaluateSpansChunks(layers: [Int]) throws {
        let shape = try NetworkShape(layers: layers, activation: .sigmoid)
        let p = TestNetworks.randomParameters(shape, seed: 31)
        let m = Evaluator.chunk + 37
        let batch = ExampleBatch(features: 6, count: m, classes: TestNetworks.classes(outputs: layers.last!), seed: 32)
        let reference = ReferenceNetwork(p)

        let result = Evaluator(shape: shape).evaluate(p, on: batch.dataset)
        #expect(result.examples == m)
        #expect(result.correct == reference.correctCount(batch.rows, labels: batch.labels))
        let j = reference.loss(batch.rows, labels: batch.labels)
        #expect(abs(result.loss - j) <= 1e-6 * max(1, j), "Evaluator loss \(result.loss), reference \(j)")
        #expect(result.accuracy == Double(result.correct) / Double(m))
    }

    /// One row of n_L probabilities per example, the reference's A[L].
    @Test(arguments: [[6, 8, 3], [6, 5, 1]])
    func predictGivesOutputsPerExample(layers: [Int]) throws {
        let shape = try NetworkShape(layers: layers, activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 33)
        let batch = ExampleBatch(features: 6, count: 50, classes: 2, seed: 34)
        let rows = Evaluator(shape: shape).predict(p, on: batch.features)
        let aL = ReferenceNetwork(p).forward(batch.rows).a[layers.count - 1]
        #expect(rows.count == 50)
        for (j, row) in rows.enumerated() {
            #expect(row.count == layers.last!)
            for (i, value) in row.enumerated() {
                #expect(abs(Double(value) - aL[i][j]) <= 1e-6, "example \(j), output \(i)")
            }
        }
    }

    @Test func emptyResultHasZeroLossAndAccuracy() {
        let empty = Evaluator.Result(examples: 0, correct: 0, lossSum: 0)
        #expect(empty.loss == 0 && empty.accuracy == 0)
        let some = Evaluator.Result(examples: 4, correct: 3, lossSum: 2)
        #expect(some.loss == 0.5 && some.accuracy == 0.75)
    }
}
