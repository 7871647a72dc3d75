/// Random starting weights from the run's seed; biases start at zero.
public enum Initializer {
    /// Streams of the run's seed, one per purpose.
    public enum Stream: UInt64 {
        case initialization = 1
        case shuffle = 2
    }

    /// The standard deviation of W[l]'s normal distribution.
    ///
    /// He et al. 2015 (√(2/n_in)) for relu and leaky-relu; Glorot & Bengio 2010
    /// (√(2/(n_in + n_out))) for tanh and sigmoid.
    public static func standardDeviation(for activation: Activation, fanIn: Int, fanOut: Int) -> Double {
        switch activation {
        case .relu, .leakyRelu: return (2.0 / Double(fanIn)).squareRoot()
        case .tanh, .sigmoid: return (2.0 / Double(fanIn + fanOut)).squareRoot()
        }
    }

    /// Fills W[l] with N(0, σ²) — drawn row by row, each layer from its own stream — and b[l] with 0.
    public static func initialize(_ p: ParameterBuffer, seed: UInt64) {
        let shape = p.layout.shape
        for l in 1...shape.depth {
            let rows = shape.layers[l]
            let cols = shape.layers[l - 1]
            let sigma = standardDeviation(for: shape.activation, fanIn: cols, fanOut: rows)
            var rng = Xoshiro256(seed: seed, stream: Stream.initialization.rawValue, UInt64(l))
            let w = p.weight(l)
            for i in 0..<rows {
                for j in 0..<cols { w[i + j * rows] = Float(rng.nextGaussian() * sigma) }
            }
            p.bias(l).update(repeating: 0, count: rows)
        }
    }
}
