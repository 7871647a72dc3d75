import Testing

@testable import Core

/// The Float32 ⇄ 16-bit conversions of `GradientEncoding`, checked on bit patterns.
@Suite struct GradientEncodingTests {
    static let formats: [GradientEncoding] = [.float16, .bfloat16]

    /// The quiet bit of each format's NaNs: the top fraction bit.
    static func quietBit(_ format: GradientEncoding) -> UInt16 { format == .float16 ? 0x0200 : 0x0040 }

    static func isNaN(_ bits: UInt16, _ format: GradientEncoding) -> Bool {
        format == .float16
            ? bits & 0x7C00 == 0x7C00 && bits & 0x03FF != 0 : bits & 0x7F80 == 0x7F80 && bits & 0x007F != 0
    }

    // MARK: Exact values

    /// Every non-NaN 16-bit pattern — zeros, subnormals, normals, infinities — is a Float32 that
    /// converts back to the same bits; a quiet NaN keeps its pattern in bfloat16 and stays a quiet
    /// NaN of the same sign in float16.
    @Test(arguments: formats)
    func everyPatternRoundTrips(format: GradientEncoding) {
        var wrong: [UInt16] = []
        for pattern in 0...UInt16.max {
            let value = format.dequantize(pattern)
            let back = format.quantize(value)
            if Self.isNaN(pattern, format) {
                guard value.isNaN, Self.isNaN(back, format), back & 0x8000 == pattern & 0x8000 else {
                    wrong.append(pattern)
                    continue
                }
                let quiet = pattern & Self.quietBit(format) != 0
                if quiet && format == .bfloat16 && back != pattern { wrong.append(pattern) }
                if back & Self.quietBit(format) == 0 { wrong.append(pattern) }
            } else if back != pattern {
                wrong.append(pattern)
            }
        }
        let failures = wrong.count
        #expect(
            failures == 0, "patterns that do not round trip, first \(wrong.prefix(8).map { String($0, radix: 16) })")
    }

    // MARK: Against Swift's Float16

    /// Every binary16 pattern reads back as the Float32 Swift's `Float16` converts it to.
    @Test func float16ReadsBackAsSwiftsFloat16() {
        var wrong: [UInt16] = []
        for pattern in 0...UInt16.max {
            let (ours, swift) = (GradientEncoding.float16.dequantize(pattern), Float(Float16(bitPattern: pattern)))
            if ours.bitPattern != swift.bitPattern && !(ours.isNaN && swift.isNaN) { wrong.append(pattern) }
        }
        let failures = wrong.count
        #expect(failures == 0, "first \(wrong.prefix(8).map { String($0, radix: 16) })")
    }

    /// Rounding to binary16 gives the bits Swift's `Float16(x)` gives (after the clamp): for
    /// every sign and Float32 exponent, the fractions at and around the rounding boundaries and
    /// a few hundred more, seeded.
    @Test func float16RoundsAsSwiftsFloat16() {
        var rng = Xoshiro256(seed: 16)
        let fractions: [UInt32] = [
            0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7F_E000, 0x7F_EFFF, 0x7F_F000, 0x7F_FFFF,
        ]
        var wrong: [UInt32] = []
        for signAndExponent in UInt32(0)..<512 {
            for index in 0..<300 {
                let fraction =
                    index < fractions.count ? fractions[index] : UInt32(truncatingIfNeeded: rng.next()) & 0x7F_FFFF
                let x = Float(bitPattern: signAndExponent << 23 | fraction)
                guard !x.isNaN else { continue }
                let clamped = x.isFinite ? min(max(x, -65504), 65504) : x
                if GradientEncoding.float16.quantize(x) != Float16(clamped).bitPattern { wrong.append(x.bitPattern) }
            }
        }
        let failures = wrong.count
        #expect(failures == 0, "first \(wrong.prefix(8).map { String($0, radix: 16) })")
    }

    // MARK: Rounding

    /// Halfway between two adjacent float16 values, the one with an even last bit wins; just
    /// above or below the midpoint, the nearer one. Midpoints need 12 significant bits, so they
    /// are exact in Float32; every adjacent pair of finite values of either sign is tried.
    @Test func float16TiesRoundToEven() {
        var wrong: [String] = []
        for sign: UInt16 in [0, 0x8000] {
            for h in UInt16(0)..<0x7BFF {
                let (low, high) = (h | sign, (h + 1) | sign)
                let middle = Float((Double(Float16(bitPattern: low)) + Double(Float16(bitPattern: high))) / 2)
                let even = h % 2 == 0 ? low : high
                for (x, expected) in [
                    (middle, even), (middle.nextUp, sign == 0 ? high : low), (middle.nextDown, sign == 0 ? low : high),
                ] {
                    let got = GradientEncoding.float16.quantize(x)
                    if got != expected {
                        wrong.append("\(x) → \(String(got, radix: 16)), expected \(String(expected, radix: 16))")
                    }
                }
            }
        }
        let failures = wrong.count
        #expect(failures == 0, "first \(wrong.prefix(5))")
    }

    /// The same ties written as Float32 bit patterns: between 1 (0x3C00) and 1 + 2⁻¹⁰ the
    /// midpoint sets Float32 fraction bit 12; at the smallest subnormal, 2⁻²⁵ is half of it.
    @Test func float16TiesFromBitPatterns() {
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_1000, 0x3C00), (0x3F80_1001, 0x3C01), (0x3F80_3000, 0x3C02), (0x3F80_2FFF, 0x3C01),
            (0xBF80_1000, 0xBC00), (0xBF80_3000, 0xBC02),
            // 2⁻²⁵ (a tie with zero), just above it, 0.75·2⁻²⁴, 1.5·2⁻²⁴ (a tie: to 2⁻²³)
            (0x3300_0000, 0x0000), (0x3300_0001, 0x0001), (0x3340_0000, 0x0001), (0x33C0_0000, 0x0002),
        ]
        for (bits, expected) in cases {
            #expect(
                GradientEncoding.float16.quantize(Float(bitPattern: bits)) == expected, "0x\(String(bits, radix: 16))")
        }
    }

    /// bfloat16 keeps the upper 16 bits of a Float32: a lower half of exactly 0x8000 is a tie
    /// and goes to the even upper half, 0x8001 rounds up and 0x7FFF down — for every finite
    /// upper half whose successor is finite, subnormals included (carries cross into the exponent).
    @Test func bfloat16TiesRoundToEven() {
        var wrong: [String] = []
        for sign: UInt32 in [0, 0x8000] {
            for upper in UInt32(0)..<0x7F7F {
                let u = upper | sign
                for (lower, expected) in [
                    (UInt32(0x8000), upper % 2 == 0 ? u : u + 1), (0x8001, u + 1), (0x7FFF, u), (0, u),
                ] {
                    let got = GradientEncoding.bfloat16.quantize(Float(bitPattern: u << 16 | lower))
                    if got != UInt16(expected) {
                        wrong.append("0x\(String(u << 16 | lower, radix: 16)) → \(String(got, radix: 16))")
                    }
                }
            }
        }
        let failures = wrong.count
        #expect(failures == 0, "first \(wrong.prefix(5))")
    }

    // MARK: Special values

    /// ±∞ stay infinite; no NaN becomes a number or an infinity, even one whose payload lies
    /// only in the low half (plain truncation would give ∞) or whose bits would carry out of
    /// the pattern when rounded (0x7FFFFFFF, 0xFFFFFFFF); the result is a quiet NaN of its sign.
    @Test(arguments: formats)
    func infinitiesAndNaNsStayWhatTheyAre(format: GradientEncoding) {
        #expect(format.dequantize(format.quantize(.infinity)) == .infinity)
        #expect(format.dequantize(format.quantize(-.infinity)) == -.infinity)
        let nans: [Float] = [
            .nan, -.nan, .signalingNaN, -.signalingNaN, Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFF80_8000),
            Float(bitPattern: 0x7FFF_FFFF), Float(bitPattern: 0xFFFF_FFFF), Float(bitPattern: 0x7FC0_0000),
        ]
        for nan in nans {
            let bits = format.quantize(nan)
            #expect(
                Self.isNaN(bits, format) && bits & Self.quietBit(format) != 0,
                "0x\(String(nan.bitPattern, radix: 16)) → 0x\(String(bits, radix: 16))")
            #expect(
                bits & 0x8000 == UInt16(nan.bitPattern >> 16) & 0x8000,
                "the sign of 0x\(String(nan.bitPattern, radix: 16))")
            #expect(format.dequantize(bits).isNaN)
        }
    }

    /// Values too small for float16 become its subnormals, then zero of the same sign; Float32
    /// subnormals are bfloat16 subnormals, and the largest rounds up to the least normal.
    @Test func subnormals() {
        let float16: [(Float, UInt16)] = [
            (0x1p-24, 0x0001), (0x1p-14, 0x0400), (0x1p-14 - 0x1p-24, 0x03FF), (-0x1p-24, 0x8001),
            (.leastNonzeroMagnitude, 0x0000), (-.leastNonzeroMagnitude, 0x8000), (0x1p-26, 0x0000), (-0.0, 0x8000),
        ]
        for (x, expected) in float16 {
            #expect(GradientEncoding.float16.quantize(x) == expected, "\(x)")
        }
        let bfloat16: [(UInt32, UInt16)] = [
            (0x0001_0000, 0x0001), (0x0000_8000, 0x0000), (0x0001_8000, 0x0002), (0x007F_FFFF, 0x0080),
            (0x8000_0001, 0x8000), (0x0000_0001, 0x0000), (0x8000_0000, 0x8000),
        ]
        for (x, expected) in bfloat16 {
            #expect(GradientEncoding.bfloat16.quantize(Float(bitPattern: x)) == expected, "0x\(String(x, radix: 16))")
        }
        #expect(GradientEncoding.bfloat16.dequantize(0x0001) == Float(bitPattern: 0x0001_0000))
        #expect(GradientEncoding.float16.dequantize(0x0001) == 0x1p-24)
    }

    // MARK: Clamping

    /// A finite value beyond the largest finite of the format is clamped to it, where plain
    /// rounding would give ∞ (float16 from 65520, bfloat16 from 0x7F7F8000); ∞ itself is not.
    @Test func finiteValuesNeverBecomeInfinite() {
        let float16: [(Float, UInt16)] = [
            (65504, 0x7BFF), (65519.996, 0x7BFF), (65520, 0x7BFF), (1e6, 0x7BFF), (-65520, 0xFBFF),
            (-1e30, 0xFBFF), (.greatestFiniteMagnitude, 0x7BFF), (.infinity, 0x7C00),
        ]
        for (x, expected) in float16 {
            #expect(GradientEncoding.float16.quantize(x) == expected, "\(x)")
        }
        #expect(GradientEncoding.float16.greatestFiniteMagnitude == 65504)
        let bfloat16: [(Float, UInt16)] = [
            (Float(bitPattern: 0x7F7F_8000), 0x7F7F), (.greatestFiniteMagnitude, 0x7F7F),
            (-.greatestFiniteMagnitude, 0xFF7F),
            (Float(bitPattern: 0x7F7F_7FFF), 0x7F7F), (.infinity, 0x7F80),
        ]
        for (x, expected) in bfloat16 {
            #expect(GradientEncoding.bfloat16.quantize(x) == expected, "0x\(String(x.bitPattern, radix: 16))")
        }
        #expect(GradientEncoding.bfloat16.greatestFiniteMagnitude == Float(bitPattern: 0x7F7F_0000))
    }

    /// The buffer form is the value form applied to each element.
    @Test(arguments: formats)
    func dequantizingABufferMatchesOneByOne(format: GradientEncoding) {
        let bits = (0..<1000).map { UInt16(truncatingIfNeeded: $0 &* 0x9E37) }
        var values = [Float](repeating: 0, count: bits.count)
        values.withUnsafeMutableBufferPointer { format.dequantize(bits, count: bits.count, into: $0.baseAddress!) }
        #expect(values.map(\.bitPattern) == bits.map { format.dequantize($0).bitPattern })
    }
}
