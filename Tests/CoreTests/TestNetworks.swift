@testable import Core

/// Random networks and bit-level views of parameters, shared by the tests.
enum TestNetworks {
    /// Labels a network with `outputs` units can learn: 0/1 for a single sigmoid unit.
    static func classes(outputs: Int) -> Int { outputs == 1 ? 2 : outputs }

    /// W[l] ~ N(0, scale²/n_{l−1}) and b[l] ~ N(0, 0.3²): biases non-zero so db is exercised.
    static func randomParameters(_ shape: NetworkShape, seed: UInt64, scale: Double = 1) -> ParameterBuffer {
        let p = ParameterBuffer(layout: ParameterLayout(shape: shape))
        var rng = Xoshiro256(seed: seed, stream: 102)
        for l in 1...shape.depth {
            let sigma = scale / Double(shape.layers[l - 1]).squareRoot()
            for i in 0..<p.layout.weightCount(l) { p.weight(l)[i] = Float(rng.nextGaussian() * sigma) }
            for i in 0..<shape.layers[l] { p.bias(l)[i] = Float(rng.nextGaussian() * 0.3) }
        }
        return p
    }

    /// Every value's bit pattern, so that equality means the same bits (−0 ≠ +0, NaN = same NaN).
    static func bits(_ p: ParameterBuffer) -> [UInt32] { p.array.map(\.bitPattern) }
}
