import Testing

@testable import Core

@Suite struct RandomTests {
    /// The first outputs of Vigna's splitmix64.c for seed 1234567.
    @Test func splitMix64KnownAnswers() {
        var rng = SplitMix64(seed: 1_234_567)
        let expected: [UInt64] = [
            6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
            4_593_380_528_125_082_431, 16_408_922_859_458_223_821,
        ]
        #expect((0..<5).map { _ in rng.next() } == expected)
    }

    /// The first outputs of Blackman & Vigna's xoshiro256starstar.c from the state {1, 2, 3, 4}.
    @Test func xoshiro256StarStarKnownAnswers() {
        var rng = Xoshiro256(state: (1, 2, 3, 4))
        let expected: [UInt64] = [
            11520, 0, 1_509_978_240, 1_215_971_899_390_074_240, 1_216_172_134_540_287_360, 607_988_272_756_665_600,
        ]
        #expect((0..<6).map { _ in rng.next() } == expected)
    }

    /// A stream is fixed by (seed, stream, a, b); changing any one gives another stream.
    @Test func streamsAreSeparate() {
        func first(_ rng: Xoshiro256) -> [UInt64] {
            var copy = rng
            return (0..<4).map { _ in copy.next() }
        }
        let base = first(Xoshiro256(seed: 9, stream: 2, 3, 4))
        #expect(first(Xoshiro256(seed: 9, stream: 2, 3, 4)) == base)
        for other in [
            Xoshiro256(seed: 8, stream: 2, 3, 4), Xoshiro256(seed: 9, stream: 1, 3, 4),
            Xoshiro256(seed: 9, stream: 2, 4, 4), Xoshiro256(seed: 9, stream: 2, 3, 5),
            Xoshiro256(seed: 9, stream: 2, 4, 3),
        ] {
            #expect(first(other) != base)
        }
    }

    /// `next(below:)` stays in range and is uniform: each of 6 counts of 60 000 draws lies within
    /// 5σ (σ = √(n·p·(1−p)) ≈ 91) of 10 000.
    @Test func boundedDrawsAreInRangeAndUniform() {
        var rng = Xoshiro256(seed: 4)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 {
            let value = rng.next(below: 6)
            #expect((0..<6).contains(value))
            counts[value] += 1
        }
        for count in counts { #expect(abs(count - 10_000) <= 5 * 91, "counts \(counts)") }
        let ones = (0..<100).map { _ in rng.next(below: 1) }
        #expect(ones == Array(repeating: 0, count: 100))
    }

    /// Uniforms lie in [0, 1); Box–Muller normals have mean 0 and variance 1 (n = 40 000: the
    /// sample mean's σ is 0.005, the sample variance's about 0.007).
    @Test func unitAndGaussianMoments() {
        var rng = Xoshiro256(seed: 5)
        let n = 40_000
        let units = (0..<n).map { _ in rng.nextUnit() }
        let inRange = units.allSatisfy { $0 >= 0 && $0 < 1 }
        #expect(inRange)
        #expect(abs(units.reduce(0, +) / Double(n) - 0.5) <= 5 * 0.289 / Double(n).squareRoot())

        let normals = (0..<n).map { _ in rng.nextGaussian() }
        #expect(normals.allSatisfy { $0.isFinite })
        let mean = normals.reduce(0, +) / Double(n)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
        #expect(abs(mean) <= 0.025)
        #expect(abs(variance - 1) <= 0.035)
    }

    @Test func shuffleIsASeededPermutation() {
        var a = Xoshiro256(seed: 6)
        var b = Xoshiro256(seed: 6)
        var c = Xoshiro256(seed: 7)
        var x = Array(0..<50)
        var y = Array(0..<50)
        var z = Array(0..<50)
        a.shuffle(&x)
        b.shuffle(&y)
        c.shuffle(&z)
        #expect(x.sorted() == Array(0..<50))
        #expect(x == y)
        #expect(x != z)
        #expect(x != Array(0..<50))
        var one = [7]
        a.shuffle(&one)
        #expect(one == [7])
    }
}
