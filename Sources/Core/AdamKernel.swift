import CElementary

/// Which code runs Adam's update of a segment: C with AVX-512F or AVX2 where the CPU has them
/// (`CElementary/adam.c`), otherwise the Swift rule on `SIMD8<Float>` (`Adam`). All compute the
/// same operations, in the same order, lane by lane, so all give the same bits.
///
/// Core is built for baseline x86-64, where Adam's four divisions and square root a value, on
/// SSE's 4 lanes, bound its speed; only this kernel is compiled for the wider vectors, and
/// chosen once, when the process first updates with Adam. Building all of Core for AVX2 made the
/// checked update slower.
enum AdamKernel: String, CaseIterable, Sendable {
    case avx512
    case avx2
    /// The Swift rule, on any host.
    case vector

    /// The fastest kernel this host runs.
    static let best: AdamKernel = [.avx512, .avx2].first(where: \.isAvailable) ?? .vector

    private static let variants = descent_adam_variants()

    /// Whether this CPU (and its operating system) runs the kernel.
    var isAvailable: Bool {
        switch self {
        case .avx512: Self.variants & UInt32(DESCENT_ADAM_AVX512) != 0
        case .avx2: Self.variants & UInt32(DESCENT_ADAM_AVX2) != 0
        case .vector: true
        }
    }
}

extension AdamSegment {
    /// Values 0..<count updated by `kernel`, which must be available; their marks, or-ed.
    func run(count: Int, kernel: AdamKernel) -> UInt32 {
        if kernel == .vector { return run(count: count) }
        var segment = descent_adam_segment(
            w: w, sum: sum, first: first, second: second, out: out, out_first: outFirst, out_second: outSecond,
            m: m, alpha: alpha, decay: decay, beta1: beta1, beta2: beta2, epsilon: epsilon,
            correction1: correction1, correction2: correction2)
        return kernel == .avx512 ? descent_adam_avx512(&segment, count) : descent_adam_avx2(&segment, count)
    }
}
