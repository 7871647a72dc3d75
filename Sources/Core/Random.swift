#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// SplitMix64 (Steele, Lea, Flood 2014): expands one seed into well-mixed 64-bit words; the tests
/// use it for repeatable inputs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman, Vigna 2018): Descent's only source of randomness, so that a seed gives
/// the same numbers on every platform, run and Swift version.
public struct Xoshiro256: Sendable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator for one named stream of a run: the seed plus up to three numbers that say what
    /// it is for (init, an epoch's shuffle of a shard, …) so streams never overlap by accident.
    public init(seed: UInt64, stream: UInt64 = 0, _ a: UInt64 = 0, _ b: UInt64 = 0) {
        var mixer = SplitMix64(seed: seed)
        var key = mixer.next() ^ stream
        for word in [a, b] {
            var inner = SplitMix64(seed: key ^ word &* 0xD605_BBB5_8C8A_BBFD)
            key = inner.next()
        }
        var expander = SplitMix64(seed: key)
        state = (expander.next(), expander.next(), expander.next(), expander.next())
    }

    /// Restores a generator exactly where a checkpoint left it.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) { self.state = state }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Uniform in [0, bound), without modulo bias (Lemire 2019, with rejection).
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal by Box–Muller, from two uniforms (one value used, for simplicity of replay).
    public mutating func nextGaussian() -> Double {
        let u1 = 1 - nextUnit() // (0, 1]: log is finite
        let u2 = nextUnit()
        return (-2 * Elementary.log(u1)).squareRoot() * Elementary.cos(piTimes: 2 * u2)
    }

    /// Fisher–Yates shuffle of `values` in place.
    public mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, next(below: i + 1))
        }
    }
}
