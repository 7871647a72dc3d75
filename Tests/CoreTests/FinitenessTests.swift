import Testing

@testable import Core

@Suite struct FinitenessTests {
    static let poisons: [Float] = [.infinity, -.infinity, .nan, -.nan, .signalingNaN]
    static let extremes: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 0]

    /// One bad value anywhere — first, in the vector body, in the scalar tail, last — is found.
    @Test(arguments: poisons)
    func anyNonFiniteValueIsFound(poison: Float) {
        for count in [1, 7, 8, 9, 33, 1000] {
            for position in Set([0, count / 2, count - 1]) {
                var values = (0..<count).map { Float($0) - 7.5 }
                #expect(Finiteness.allFinite(values, count: count))
                values[position] = poison
                #expect(!Finiteness.allFinite(values, count: count), "count \(count), position \(position)")
            }
        }
    }

    /// The largest and smallest finite values, and both zeros, are finite.
    @Test func extremesAreFinite() {
        #expect(Finiteness.allFinite(Self.extremes, count: Self.extremes.count))
        #expect(Finiteness.allFinite([], count: 0))
    }

    /// `ParameterBuffer.isFinite` is the same check.
    @Test func parameterBufferUsesIt() throws {
        let buffer = ParameterBuffer(layout: ParameterLayout(shape: try NetworkShape(layers: [3, 4, 2], activation: .relu)))
        buffer.fill(1)
        #expect(buffer.isFinite)
        buffer.values[buffer.count - 1] = .nan
        #expect(!buffer.isFinite)
    }
}
