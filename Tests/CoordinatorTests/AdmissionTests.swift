import Core
import Testing
import Wire

@testable import Coordinator

/// Who may compute for a run: workers on the run's kernel, workers that can switch to it, and,
/// only with --allow-mixed-arithmetic, workers that cannot.
@Suite("Admission by arithmetic profile")
struct AdmissionTests {
    static let avx2 = CPUFeatures(architecture: "x86_64", flags: ["sse3", "ssse3", "sse4_2", "avx", "avx2", "fma"])
    static let avx = CPUFeatures(architecture: "x86_64", flags: ["sse3", "ssse3", "sse4_2", "avx"])

    static func profile(_ kernel: String, _ features: CPUFeatures = avx2, pin: String? = nil) -> ArithmeticProfile {
        ArithmeticProfile(blas: "OpenBLAS 0.3.21", kernel: kernel, pin: pin, threads: 1, features: features)
    }

    static let run = RunArithmetic(kernel: "Haswell", profile: profile("Haswell"))

    @Test func theRunsKernelIsAdmittedAndAnotherRunnableOneSwitches() {
        #expect(Admission.decide(Self.profile("Haswell"), run: Self.run, admitted: []) == .admit)
        #expect(Admission.decide(Self.profile("Zen"), run: Self.run, admitted: []) == .align(kernel: "Haswell"))
        #expect(
            Admission.decide(Self.profile("Prescott"), run: Self.run, admitted: []) == .align(kernel: "Haswell"))
    }

    @Test func aWorkerThatCannotMatchIsRefusedWithAKernelEveryoneRuns() throws {
        guard
            case .refuse(let problem, let fix) = Admission.decide(
                Self.profile("Sandybridge", Self.avx), run: Self.run, admitted: [Self.profile("Haswell")])
        else {
            Issue.record("an AVX-only worker was admitted to a Haswell run")
            return
        }
        #expect(problem.contains("cannot run"), "\(problem)")
        #expect(fix.contains("--blas-kernel Sandybridge"), "\(fix)")
        guard
            case .refuse(let pinned, let pinnedFix) = Admission.decide(
                Self.profile("Zen", pin: "OPENBLAS_CORETYPE=Zen"), run: Self.run, admitted: [])
        else {
            Issue.record("a worker pinned to Zen was asked to switch")
            return
        }
        #expect(pinned.contains("OPENBLAS_CORETYPE=Zen"), "\(pinned)")
        #expect(pinnedFix.contains("--blas-kernel Zen"), "\(pinnedFix)")
    }

    @Test func mixedArithmeticIsAdmittedOnlyWhenAllowed() {
        var run = Self.run
        run.allowMixed = true
        guard case .admitMixed = Admission.decide(Self.profile("Sandybridge", Self.avx), run: run, admitted: []) else {
            Issue.record("--allow-mixed-arithmetic did not admit the worker")
            return
        }
    }

    @Test func membershipAsksForASwitchAndWelcomesOnTheRunsKernel() throws {
        var settings = Fixtures.settings()
        settings.arithmetic = Self.run
        let fixture = try MembershipFixture(shards: 2, settings: settings)
        #expect(!fixture.registerWorker("zen:1", profile: Self.profile("Zen")))
        #expect(fixture.membership.joiners.isEmpty)
        #expect(
            try Fixtures.drain(fixture.dealers[0]) == [.refuse(Refuse(reason: Self.switchReason, kernel: "Haswell"))])
        #expect(fixture.registerWorker("haswell:2", profile: Self.profile("Haswell")))
        guard case .welcome(let welcome) = try Fixtures.drain(fixture.dealers[1]).first else {
            Issue.record("no WELCOME")
            return
        }
        #expect(welcome.blasKernel == "Haswell")
        #expect(fixture.membership.mixedArithmetic.isEmpty)
    }

    @Test func membershipRecordsAWorkerAdmittedWithMixedArithmetic() throws {
        var settings = Fixtures.settings()
        settings.arithmetic = Self.run
        settings.arithmetic.allowMixed = true
        let fixture = try MembershipFixture(shards: 2, settings: settings)
        #expect(fixture.registerWorker("old:1", profile: Self.profile("Sandybridge", Self.avx)))
        guard case .welcome(let welcome) = try Fixtures.drain(fixture.dealers[0]).first else {
            Issue.record("no WELCOME")
            return
        }
        #expect(welcome.blasKernel == "Sandybridge", "the worker keeps its own kernel")
        #expect(fixture.membership.mixedArithmetic == ["old:1"])
    }

    static let switchReason = "the run computes with BLAS kernel Haswell; switch to it and register again"
}
