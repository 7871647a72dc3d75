import Foundation
import Testing

@testable import Core

/// g′(z) in Float64, from z.
private func slope(_ activation: Activation, _ z: Double) -> Double {
    switch activation {
    case .relu: return z > 0 ? 1 : 0
    case .leakyRelu: return z > 0 ? 1 : 0.01
    case .tanh: return 1 - tanh(z) * tanh(z)
    case .sigmoid:
        let s = 1 / (1 + exp(-z))
        return s * (1 - s)
    }
}

/// Pre-activations from −6 to 6, none at relu's kink.
private let grid: [Float] = (0..<60).map { Float($0) * 0.2 - 5.9 }

@Suite struct ActivationTests {
    @Test func valuesByHand() {
        #expect(Activation.relu.value(-2) == 0 && Activation.relu.value(3) == 3)
        #expect(Activation.leakyRelu.value(-2) == -0.02 && Activation.leakyRelu.value(3) == 3)
        #expect(Activation.sigmoid.value(0) == 0.5)
        #expect(Activation.tanh.value(0) == 0)
        #expect(abs(Activation.tanh.value(1) - 0.761_594_2) <= 1e-6)
        #expect(abs(Activation.sigmoid.value(2) - 0.880_797_1) <= 1e-6)
        #expect(Activation(rawValue: "leaky-relu") == .leakyRelu)
    }

    /// g′ through the output, g′(g(z)), is g′(z).
    @Test(arguments: Activation.allCases)
    func derivativeFromOutputIsTheSlope(activation: Activation) {
        for z in grid {
            let fromOutput = Double(activation.derivative(fromOutput: activation.value(z)))
            #expect(abs(fromOutput - slope(activation, Double(z))) <= 1e-6, "g′(\(z))")
        }
    }

    /// The logistic function never overflows into NaN, however large |z|.
    @Test func logisticIsStable() {
        for z: Float in [-1000, -100, -88, -20, 0, 20, 88, 100, 1000] {
            let s = Activation.logistic(z)
            #expect(s.isFinite && s >= 0 && s <= 1, "σ(\(z)) = \(s)")
            #expect(abs(Double(s) - 1 / (1 + exp(-Double(z)))) <= 1e-7, "σ(\(z))")
        }
    }

    /// The fused passes agree with `value` and `derivative(fromOutput:)`, value by value.
    @Test(arguments: Activation.allCases)
    func fusedPassesAgreeWithDefinitions(activation: Activation) {
        let (n, m) = (4, 15)
        let bias: [Float] = [0.5, -0.25, 0, 1.5]
        var z = grid.prefix(n * m).map { $0 }
        let original = z
        z.withUnsafeMutableBufferPointer { zp in
            bias.withUnsafeBufferPointer {
                activation.addBiasAndActivate(zp.baseAddress!, rows: n, cols: m, bias: $0.baseAddress!)
            }
        }
        for j in 0..<m {
            for i in 0..<n {
                #expect(z[i + j * n] == activation.value(original[i + j * n] + bias[i]), "A[\(i), \(j)]")
            }
        }

        let a = z
        let dA = (0..<n * m).map { Float($0 % 7) - 3.1 }
        dA.withUnsafeBufferPointer { dp in
            z.withUnsafeMutableBufferPointer {
                activation.multiplyDerivative(intoOutput: $0.baseAddress!, gradient: dp.baseAddress!, count: n * m)
            }
        }
        for i in 0..<n * m {
            #expect(z[i] == dA[i] * activation.derivative(fromOutput: a[i]), "dZ[\(i)]")
        }
    }

    @Test func outputLayerFollowsTheClassCount() {
        #expect(OutputLayer(classes: 1) == .sigmoid)
        #expect(OutputLayer(classes: 2) == .softmax)
        #expect(OutputLayer(classes: 10) == .softmax)
        #expect(OutputLayer.labelCount(outputs: 1) == 2)
        #expect(OutputLayer.labelCount(outputs: 7) == 7)
    }

    /// dZ[L] = A[L] − Y: one-hot for softmax, the label itself for a sigmoid unit.
    @Test func subtractTargets() {
        var softmax: [Float] = [0.2, 0.3, 0.5, 0.6, 0.3, 0.1]
        let labels: [Int32] = [2, 0]
        labels.withUnsafeBufferPointer { y in
            softmax.withUnsafeMutableBufferPointer {
                OutputLayer.softmax.subtractTargets($0.baseAddress!, rows: 3, cols: 2, labels: y.baseAddress!)
            }
        }
        #expect(softmax == [0.2, 0.3, 0.5 - 1, 0.6 - 1, 0.3, 0.1])

        var sigmoid: [Float] = [0.25, 0.75, 0.5]
        [Int32(1), 0, 1].withUnsafeBufferPointer { y in
            sigmoid.withUnsafeMutableBufferPointer {
                OutputLayer.sigmoid.subtractTargets($0.baseAddress!, rows: 1, cols: 3, labels: y.baseAddress!)
            }
        }
        #expect(sigmoid == [-0.75, 0.75, -0.5])
    }
}
