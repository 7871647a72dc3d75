import Testing

@testable import Core

@Suite struct NetworkShapeTests {
    @Test func parsesLayerSizes() throws {
        let shape = try NetworkShape(parsing: " 784, 256 ,10", activation: .tanh)
        #expect(shape.layers == [784, 256, 10])
        #expect(shape.depth == 2 && shape.inputs == 784 && shape.outputs == 10)
        #expect(shape.output == .softmax)
        #expect(shape.layersText == "784,256,10")
        #expect(shape.description == "784,256,10 tanh/softmax")
        #expect(try NetworkShape(layers: [5, 1], activation: .relu).output == .sigmoid)
    }

    @Test(arguments: ["", "7", "3,,2", "3,a,2", "3,0,2", "3,-4,2", "3,2,"])
    func rejectsBadLayerText(text: String) {
        #expect(throws: ConfigurationError.self) { try NetworkShape(parsing: text, activation: .relu) }
    }

    /// 2·n_l·n_{l−1} per gemm; Z and dW for layer 1, Z, dW and dA for every later layer.
    @Test func trainingFlopsCountThreeGemmsPerLayerButTheFirst() throws {
        let shape = try NetworkShape(layers: [784, 256, 10], activation: .relu)
        #expect(shape.trainingFlopsPerExample == 2.0 * 256 * 784 * 2 + 2.0 * 10 * 256 * 3)
    }

    /// W1 (4, 3), b1 (4), W2 (2, 4), b2 (2), one after the other.
    @Test func layoutIsWeightsThenBiasesLayerByLayer() throws {
        let layout = try ParameterLayout(shape: NetworkShape(layers: [3, 4, 2], activation: .relu))
        #expect(layout.weightOffsets == [0, 0, 16])
        #expect(layout.biasOffsets == [0, 12, 24])
        #expect(layout.count == 26)
        #expect(layout.weightCount(1) == 12 && layout.weightCount(2) == 8)

        let p = ParameterBuffer(layout: layout)
        p.copy(from: (0..<26).map(Float.init))
        #expect(p.weight(2)[0] == 16 && p.bias(1)[3] == 15 && p.bias(2)[1] == 25)
    }

    @Test func bufferCopiesAndFiniteness() throws {
        let layout = try ParameterLayout(shape: NetworkShape(layers: [2, 2], activation: .relu))
        let a = ParameterBuffer(layout: layout)
        let b = ParameterBuffer(layout: layout)
        a.copy(from: [1, 2, 3, 4, 5, 6])
        b.copy(from: a)
        a.fill(0)
        #expect(b.array == [1, 2, 3, 4, 5, 6] && a.array == [0, 0, 0, 0, 0, 0])
        #expect(b.isFinite)
        for bad in [Float.nan, .infinity, -.infinity] {
            b.values[5] = bad
            #expect(!b.isFinite, "\(bad)")
        }
    }
}
