import CElementaryCheck
import Foundation
import Testing

@testable import Core

/// The Float functions' stated bound (CElementary's header): half an ulp, plus 1e-6 ulp for the
/// error before the one rounding.
private let floatBound = 0.5 + 1e-6

/// `body` over the bit patterns [first, last] in two halves on two threads: the halves' results.
private func inHalves<Result>(
    _ first: UInt32, _ last: UInt32, stride: UInt32 = 1, _ body: (UInt32, UInt32) -> Result
) -> (Result, Result) {
    let middle = first + (last - first) / stride / 2 * stride
    let halves = [(first, middle), (middle + stride, last)]
    // Each thread writes its own element.
    nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Result?>.allocate(capacity: 2)
    results.initialize(repeating: nil)
    defer { results.deallocate() }
    nonisolated(unsafe) let work = body
    DispatchQueue.concurrentPerform(iterations: 2) { half in results[half] = work(halves[half].0, halves[half].1) }
    return (results[0]!, results[1]!)
}

/// `elementary_check` over the bit patterns [first, last], in two halves on two threads.
private func check(
    _ function: elementary_function, _ first: UInt32, _ last: UInt32, stride: UInt32 = 1
) -> elementary_check_result {
    var (total, other) = inHalves(first, last, stride: stride) { elementary_check(function, $0, $1, stride) }
    if total.not_correctly_rounded == 0 { total.first_not_correctly_rounded = other.first_not_correctly_rounded }
    total.count += other.count
    total.not_correctly_rounded += other.not_correctly_rounded
    total.array_mismatches += other.array_mismatches
    if other.max_ulps > total.max_ulps {
        total.max_ulps = other.max_ulps
        total.worst_input = other.worst_input
    }
    return total
}

/// How many Floats in [first, last] `function` maps to other bits than `expected`, or than their
/// own when `expected` is nil; on two threads.
private func countOthers(_ function: elementary_function, _ first: UInt32, _ last: UInt32, expected: Float?) -> UInt64 {
    let (a, b) = inHalves(first, last) { first, last in
        expected.map { elementary_count_other_than(function, first, last, $0) }
            ?? elementary_count_moved(function, first, last)
    }
    return a + b
}

/// The bound holds, every array result is the scalar's, and results other than the reference
/// rounded to a Float are no more than `allowed` (each within 1e-6 ulp of a tie).
private func expectWithinBound(
    _ result: elementary_check_result, inputs: UInt64, allowed: UInt64, _ what: String
) {
    #expect(result.count == inputs, "\(what): inputs")
    #expect(result.max_ulps <= floatBound, "\(what): \(result.max_ulps) ulps at \(result.worst_input)")
    #expect(result.array_mismatches == 0, "\(what): array and scalar forms differ")
    #expect(
        result.not_correctly_rounded <= allowed,
        "\(what): \(result.not_correctly_rounded) not correctly rounded, first at \(result.first_not_correctly_rounded)"
    )
}

/// Exhaustive over the Float inputs the training path passes. Against glibc's Double functions
/// wherever the result needs computing; where the exact result provably rounds to a constant or
/// to x itself (most Floats are tiny), against that, which takes a fraction of the time.
@Suite(.serialized) struct ElementaryExhaustiveTests {
    /// softmax passes z − max ≤ 0 and the logistic −|z|: every Float from −0 to −104, below which
    /// e^x rounds to 0. For x ∈ [−2^−25, 0], e^x > 1 − |x| ≥ 1 − 2^−25, the midpoint between 1
    /// and the Float below it: e^x rounds to 1.
    @Test func expOverEveryNonPositiveFloat() {
        let split = (-0x1p-25 as Float).bitPattern
        #expect(countOthers(ELEMENTARY_EXP, 0x8000_0000, split, expected: 1) == 0)
        let last = (-104 as Float).bitPattern
        let result = check(ELEMENTARY_EXP, split + 1, last)
        expectWithinBound(result, inputs: UInt64(last - split), allowed: 0, "exp")
        #expect(Elementary.exp(-104 as Float) == 0 && Elementary.exp(-103.9 as Float) > 0)
    }

    /// softmax takes the log of Σ e^(z − max) ≥ 1: every Float in [1, 2^24].
    @Test func logOverEveryFloatFromOneTo2To24() {
        let (first, last) = ((1 as Float).bitPattern, (0x1p24 as Float).bitPattern)
        let result = check(ELEMENTARY_LOG, first, last)
        expectWithinBound(result, inputs: UInt64(last - first) + 1, allowed: 0, "log")
    }

    /// Binary cross-entropy passes e^−|v| ∈ (0, 1]: every Float in it. For x ≤ 2^−25,
    /// x − x²/2 < log(1 + x) < x with x²/2 < 2^−25·x, within half the spacing below x: it
    /// rounds to x.
    @Test func log1pOverEveryFloatInZeroToOne() {
        let split = (0x1p-25 as Float).bitPattern
        #expect(countOthers(ELEMENTARY_LOG1P, 1, split, expected: nil) == 0)
        let last = (1 as Float).bitPattern
        let result = check(ELEMENTARY_LOG1P, split + 1, last)
        expectWithinBound(result, inputs: UInt64(last - split), allowed: 1, "log1p")
    }

    /// Every non-negative Float. For x ≤ 2^−12, x − x³/3 < tanh x ≤ x with x³/3 < 2^−25·x: it
    /// rounds to x. From 16 on, 0 < 1 − tanh x = 2/(e^2x + 1) < 2^−44, far below the half ulp
    /// 2^−25 under 1: it rounds to 1. Negative inputs give −tanh(−x) bit for bit.
    @Test func tanhOverEveryNonNegativeFloat() {
        let (small, sixteen) = ((0x1p-12 as Float).bitPattern, (16 as Float).bitPattern)
        #expect(countOthers(ELEMENTARY_TANH, 0, small, expected: nil) == 0)
        let result = check(ELEMENTARY_TANH, small + 1, sixteen)
        expectWithinBound(result, inputs: UInt64(sixteen - small), allowed: 0, "tanh")
        #expect(countOthers(ELEMENTARY_TANH, sixteen + 1, Float.infinity.bitPattern, expected: 1) == 0)
        let negatives = stride(from: UInt32(0x8000_0000), through: 0xFF80_0000, by: 4093).map(Float.init(bitPattern:))
        let odd = negatives.filter { Elementary.tanh($0).bitPattern != (-Elementary.tanh(-$0)).bitPattern }
        #expect(odd.isEmpty, "tanh(x) ≠ −tanh(−x) at \(odd.prefix(5))")
    }

    /// The logistic over one Float in 31 of [−104, 18] (beyond, it rounds to 0 or 1). The
    /// reference 1/(1 + e^−x) rounds twice in Double, so near a tie it can be the one that is off.
    @Test func logisticOverASampleOfFloats() {
        let negative = check(ELEMENTARY_LOGISTIC, 0x8000_0000, (-104 as Float).bitPattern, stride: 31)
        expectWithinBound(negative, inputs: negative.count, allowed: 2, "logistic below 0")
        let positive = check(ELEMENTARY_LOGISTIC, 0, (18 as Float).bitPattern, stride: 31)
        expectWithinBound(positive, inputs: positive.count, allowed: 2, "logistic above 0")
        #expect(Elementary.logistic(-105 as Float) == 0 && Elementary.logistic(18 as Float) == 1)
    }
}

/// |a − exact| in ulps of the Double nearest `exact`.
private func doubleUlps(_ a: Double, _ exact: Float80) -> Double {
    Double(abs(Float80(a) - exact) / Float80(Double(exact).ulp))
}

/// cos(πp) in Float80 with no rounding of π·p near the zeros: p is folded exactly into [0, 1]
/// and the cosine taken as a sine of π times the distance to ½.
private func cosPiReference(_ p: Double) -> Float80 {
    var q = abs(Float80(p)).truncatingRemainder(dividingBy: 2)
    if q > 1 { q = 2 - q }
    return Foundation.sin(Float80.pi * (0.5 - q))
}
@Suite struct ElementaryTests {
    /// The ends: NaN, infinities, zeros, overflow, subnormals, the domain edges.
    @Test func specialValues() {
        let (nan, inf, zero, one, top): (Float, Float, Float, Float, Float) = (.nan, .infinity, 0, 1, 88.722_83)
        #expect(Elementary.exp(nan).isNaN && Elementary.log(nan).isNaN && Elementary.log1p(nan).isNaN)
        #expect(Elementary.tanh(nan).isNaN && Elementary.logistic(nan).isNaN)
        #expect(Elementary.exp(inf) == inf && Elementary.exp(-inf) == 0)
        #expect(Elementary.exp(top).isFinite && Elementary.exp(top) == Float(Foundation.exp(Double(top))))
        #expect(Elementary.exp(top.nextUp) == inf)
        let deep: Float = -100
        #expect(Elementary.exp(deep) == Float(Foundation.exp(Double(deep))) && Elementary.exp(deep).isSubnormal)
        #expect(Elementary.exp(zero) == 1 && Elementary.exp(-zero) == 1)
        #expect(Elementary.log(zero) == -inf && Elementary.log(-zero) == -inf && Elementary.log(one) == 0)
        #expect(Elementary.log(-one).isNaN && Elementary.log(inf) == inf)
        let least = Float.leastNonzeroMagnitude
        #expect(Elementary.log(least) == Float(Foundation.log(Double(least))))
        #expect(Elementary.log1p(-one) == -inf && Elementary.log1p(-2 * one).isNaN && Elementary.log1p(inf) == inf)
        #expect(Elementary.log1p(-zero).sign == .minus && Elementary.log1p(zero).sign == .plus)
        #expect(Elementary.tanh(-zero).sign == .minus && Elementary.tanh(-zero) == 0)
        #expect(Elementary.tanh(inf) == 1 && Elementary.tanh(-inf) == -1)
        #expect(Elementary.logistic(inf) == 1 && Elementary.logistic(-inf) == 0 && Elementary.logistic(zero) == 0.5)
    }

    /// The Double functions against Float80 references at 20 000 seeded points each.
    @Test func doubleFunctionsAgainstFloat80() {
        var rng = Xoshiro256(seed: 19)
        var worst = (exp: 0.0, log: 0.0, cospi: 0.0)
        for _ in 0..<20_000 {
            let x = (rng.nextUnit() - 0.5) * 1400
            worst.exp = max(worst.exp, doubleUlps(Elementary.exp(x), Foundation.exp(Float80(x))))
            let u = 1 - rng.nextUnit()
            worst.log = max(worst.log, doubleUlps(Elementary.log(u), Foundation.log(Float80(u))))
            let p = rng.nextUnit() * 4 - 2
            worst.cospi = max(worst.cospi, doubleUlps(Elementary.cos(piTimes: p), cosPiReference(p)))
        }
        #expect(worst.exp <= 1 && worst.log <= 2 && worst.cospi <= 2, "\(worst)")
        let (under, least, over): (Double, Double, Double) = (-745.2, .leastNonzeroMagnitude, 710)
        #expect(Elementary.exp(under) == 0 && Elementary.exp(under + 0.2) > 0 && Elementary.exp(over) == .infinity)
        #expect(Elementary.log(least) == Double(Foundation.log(Float80(least))))
        #expect(
            Elementary.cos(piTimes: 0.5) == 0 && Elementary.cos(piTimes: 1) == -1 && Elementary.cos(piTimes: 2) == 1)
    }

    /// Adam's bias corrections β^t for β = 0.9, 0.999 and the first 100 000 steps, and a decay
    /// factor's powers: within 0.5 + 1e-6 ulps (Float80 reference), so correctly rounded but
    /// within 1e-6 ulp of a tie.
    @Test func powersAreWithinTheBound() {
        var worst = 0.0
        for base: Float in [0.9, 0.999, 0.5, 0.1] {
            for t in 1...100_000 {
                let exact = Foundation.pow(Float80(base), Float80(t))
                let error = abs(Float80(Elementary.pow(base, Float(t))) - exact) / Float80(Float(exact).ulp)
                worst = max(worst, Double(error))
            }
        }
        #expect(worst <= floatBound)
        let (zero, two): (Float, Float) = (0, 2)
        #expect(Elementary.pow(two, zero) == 1 && Elementary.pow(zero, two) == 0 && Elementary.pow(-two, two).isNaN)
    }
}

/// The same bits when glibc's FMA code is masked (GLIBC_TUNABLES=glibc.cpu.hwcaps=-FMA), as on a
/// host without FMA: `descent-bench elementary --fingerprint` in two processes.
@Suite struct ElementaryAcrossHostsTests {
    /// `descent-bench` beside the test binary (`swift build` puts them together), or in
    /// $DESCENT_BIN.
    private static func bench() throws -> String {
        var directories = [
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        ]
        if let bin = ProcessInfo.processInfo.environment["DESCENT_BIN"], !bin.isEmpty { directories.append(bin) }
        for directory in directories {
            let path = (directory as NSString).appendingPathComponent("descent-bench")
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw CocoaError(
            .fileNoSuchFile, userInfo: [NSFilePathErrorKey: "descent-bench in \(directories); run swift build"])
    }

    /// The child's output lines, with `tunables` as GLIBC_TUNABLES when given.
    private static func fingerprint(tunables: String?) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try bench())
        process.arguments = ["elementary", "--fingerprint"]
        var environment = ProcessInfo.processInfo.environment
        environment["GLIBC_TUNABLES"] = tunables
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Whether glibc takes its FMA code here: it needs both FMA and AVX2.
    private static var cpuHasFMA: Bool {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let words = Set(flags.split(separator: " "))
        return words.contains("fma") && words.contains("avx2")
    }

    @Test(
        .enabled(
            if: ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] == nil,
            "GLIBC_TUNABLES is set already: left as it is"))
    func sameBitsWithTheFMAPathMasked() throws {
        let native = try Self.fingerprint(tunables: nil)
        let masked = try Self.fingerprint(tunables: "glibc.cpu.hwcaps=-FMA")
        let descent = { (lines: [String]) in lines.filter { !$0.hasPrefix("glibc-") } }
        #expect(descent(native).count == 12)
        #expect(descent(native) == descent(masked))
        if Self.cpuHasFMA {
            // Shows that the masking reaches glibc, so that the comparison above could fail.
            #expect(native.filter { $0.hasPrefix("glibc-") } != masked.filter { $0.hasPrefix("glibc-") })
        }
    }
}
