import Testing

@testable import Core

@Suite struct FinitenessTests {
    static let poisons: [Float] = [.infinity, -.infinity, .nan, -.nan, .signalingNaN]
    static let extremes: [Float] = [
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 0,
    ]

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

    /// Every exponent field but all ones is finite, with either sign and any mantissa, alone or
    /// all together (or-ed marks of finite values never reach the bit a non-finite one sets); the
    /// all-ones field is not, whatever else is in the buffer.
    @Test func everyExponentFieldIsClassifiedByItsBits() {
        let mantissas: [UInt32] = [0, 1, 0x40_0000, 0x7F_FFFF]
        var all: [Float] = []
        for exponent in UInt32(0)..<255 {
            for mantissa in mantissas {
                for sign in [UInt32(0), 0x8000_0000] {
                    let value = Float(bitPattern: sign | exponent << 23 | mantissa)
                    #expect(Finiteness.allFinite([value], count: 1), "exponent \(exponent)")
                    #expect(Finiteness.allFinite(marks: Finiteness.mark(value)))
                    all.append(value)
                }
            }
        }
        #expect(Finiteness.allFinite(all, count: all.count))
        for mantissa in mantissas {
            let value = Float(bitPattern: 0xFF << 23 | mantissa)
            #expect(!Finiteness.allFinite(all + [value], count: all.count + 1))
            #expect(!Finiteness.allFinite(marks: Finiteness.mark(value) | Finiteness.mark(1)))
        }
    }

    /// `ParameterBuffer.isFinite` is the same check.
    @Test func parameterBufferUsesIt() throws {
        let buffer = ParameterBuffer(
            layout: ParameterLayout(shape: try NetworkShape(layers: [3, 4, 2], activation: .relu)))
        buffer.fill(1)
        #expect(buffer.isFinite)
        buffer.values[buffer.count - 1] = .nan
        #expect(!buffer.isFinite)
    }
}
