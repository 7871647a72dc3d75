import Testing

@testable import Core

/// The kernel a run computes with: chosen from the CPU's features, never below them, never over a
/// setting made on purpose; and checked against a Float64 gemm before the first step.
@Suite("Arithmetic profile and BLAS kernel")
struct ArithmeticTests {
    static let avx512 = CPUFeatures(
        architecture: "x86_64",
        flags: [
            "sse3", "ssse3", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl",
        ])
    static let avx2 = CPUFeatures(architecture: "x86_64", flags: ["sse3", "ssse3", "sse4_2", "avx", "avx2", "fma"])
    static let avx = CPUFeatures(architecture: "x86_64", flags: ["sse3", "ssse3", "sse4_2", "avx"])
    static let arm = CPUFeatures(architecture: "aarch64", flags: ["asimd"])

    static func auto(_ features: CPUFeatures, _ reported: String, pin: String? = nil) throws -> KernelChoice {
        try KernelChoice.decide(.auto, features: features, openBLASChoice: reported, pin: pin)
    }

    @Test func autoReplacesAFallbackByTheBestKernelTheFeaturesRun() throws {
        // A CPU newer than the library: OpenBLAS 0.3.21 falls back to Prescott on a Xeon with AMX.
        let xeon = try Self.auto(Self.avx512, "Prescott")
        #expect(xeon.kernel == "SkylakeX")
        #expect(xeon.correctsFallback)
        #expect(xeon.reason.contains("Prescott") && xeon.reason.contains("fallback"), "\(xeon.reason)")
        for fallback in ["Prescott", "Core2", "Nehalem", "Sandybridge"] {
            let choice = try Self.auto(Self.avx2, fallback)
            #expect(choice.kernel == "Haswell" && choice.correctsFallback, "\(fallback) on AVX2 → \(choice)")
        }
        #expect(try Self.auto(Self.avx, "Prescott").kernel == "Sandybridge")
    }

    @Test func autoKeepsOpenBLASsChoiceInTheBestTier() throws {
        let zen = try Self.auto(Self.avx2, "Zen")
        #expect(zen.kernel == "Zen" && !zen.correctsFallback)
        var bf16 = Self.avx512
        bf16.flags.append("avx512_bf16")
        #expect(try Self.auto(bf16, "Cooperlake").kernel == "Cooperlake")
        #expect(try Self.auto(Self.avx512, "skylakex").kernel == "SkylakeX")
        // Off x86-64 the table has nothing to say: OpenBLAS's choice stands.
        #expect(try Self.auto(Self.arm, "NEOVERSEN1").kernel == "NEOVERSEN1")
    }

    @Test func anInheritedPinIsNeverOverridden() throws {
        let pinned = try Self.auto(Self.avx512, "Prescott", pin: "OPENBLAS_CORETYPE=Prescott")
        #expect(pinned.kernel == "Prescott" && !pinned.correctsFallback)
        #expect(throws: ConfigurationError.self) {
            try KernelChoice.decide(
                .named("Haswell"), features: Self.avx512, openBLASChoice: "Prescott", pin: "OPENBLAS_L2_SIZE=1048576")
        }
        let same = try KernelChoice.decide(
            .named("Haswell"), features: Self.avx2, openBLASChoice: "Haswell", pin: "OPENBLAS_CORETYPE=Haswell")
        #expect(same.kernel == "Haswell")
    }

    @Test func aNamedKernelMustBeListedAndRunnable() throws {
        #expect(try KernelChoice.Request(parsing: "haswell") == .named("Haswell"))
        #expect(try KernelChoice.Request(parsing: "AUTO") == .auto)
        #expect(throws: ConfigurationError.self) { try KernelChoice.Request(parsing: "Pentium4") }
        do {
            _ = try KernelChoice.decide(.named("SkylakeX"), features: Self.avx2, openBLASChoice: "Zen", pin: nil)
            Issue.record("an AVX2 CPU was given the AVX-512 kernel")
        } catch {
            #expect("\(error)".contains("cannot run kernel SkylakeX") && "\(error)".contains("Haswell"), "\(error)")
        }
        #expect(
            try KernelChoice.decide(.named("Sandybridge"), features: Self.avx2, openBLASChoice: "Zen", pin: nil).kernel
                == "Sandybridge")
    }

    @Test func featuresComeFromCPUInfo() {
        let text = "processor\t: 0\nflags\t\t: fpu pni ssse3 fma sse4_2 avx avx2 avx512f avx512bw bmi2\nbugs\t: x\n"
        let features = CPUFeatures(architecture: "x86_64", cpuinfo: text)
        #expect(features.flags == ["avx", "avx2", "avx512bw", "avx512f", "fma", "sse3", "sse4_2", "ssse3"])
        #expect(BLASKernel.named("Haswell")!.runs(on: features))
        #expect(!BLASKernel.named("SkylakeX")!.runs(on: features), "avx512dq/vl/cd are missing")
        #expect(BLASKernel.bestCommon([Self.avx512, Self.avx2])?.name == "Haswell")
        #expect(BLASKernel.bestCommon([Self.avx2, Self.avx])?.name == "Sandybridge")
        #expect(BLASKernel.bestCommon([Self.avx2, Self.arm]) == nil)
    }

    @Test func aMismatchNamesWhatDiffers() {
        let run = ArithmeticProfile(
            blas: "OpenBLAS 0.3.21", kernel: "Haswell", pin: nil, threads: 1, features: Self.avx2)
        var worker = run
        worker.kernel = "Sandybridge"
        #expect(worker.mismatch(runKernel: "Haswell", run: run) == nil, "an unpinned AVX2 worker can switch")
        worker.pin = "OPENBLAS_CORETYPE=Sandybridge"
        #expect(worker.mismatch(runKernel: "Haswell", run: run)?.contains("OPENBLAS_CORETYPE=Sandybridge") == true)
        worker = run
        worker.features = Self.avx
        worker.kernel = "Sandybridge"
        #expect(worker.mismatch(runKernel: "Haswell", run: run)?.contains("cannot run") == true)
        worker = run
        worker.features = Self.arm
        #expect(worker.mismatch(runKernel: "Haswell", run: run)?.contains("aarch64") == true)
        worker = run
        worker.elementary = "glibc"
        #expect(worker.mismatch(runKernel: "Haswell", run: run)?.contains("elementary") == true)
    }

    @Test func thisProcessReportsItsProfile() {
        let profile = ArithmeticProfile.current(threads: 1)
        #expect(profile.kernel == BLAS.kernelName && !profile.kernel.isEmpty)
        #expect(profile.blas.hasPrefix("OpenBLAS"), "\(profile.blas)")
        #expect(profile.metadata["blas_kernel"] == profile.kernel)
        #expect(profile.metadata["blas_threads"] == "1")
    }

    @Test func theKernelCheckPassesOpenBLASAndCatchesAWrongGemm() throws {
        let shape = try NetworkShape(layers: [37, 24, 5], activation: .relu)
        try KernelCheck.verify(shape: shape, columns: 19, kernel: BLAS.kernelName)
        // One product term in a thousand dropped: the kind of error a broken kernel makes.
        let wrong: KernelCheck.Multiply = { ta, tb, m, n, k, a, b in
            var c = KernelCheck.blas(ta, tb, m, n, k, a, b)
            c[c.count / 2] += 1e-3 * abs(c[c.count / 2]) + 1e-4
            return c
        }
        do {
            try KernelCheck.verify(shape: shape, columns: 19, kernel: "Broken", multiply: wrong)
            Issue.record("a gemm off by 1e-3 passed the check")
        } catch {
            #expect("\(error)".contains("BLAS kernel Broken") && "\(error)".contains("layer 1"), "\(error)")
        }
    }
}
