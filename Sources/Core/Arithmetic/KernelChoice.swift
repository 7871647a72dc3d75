/// Which BLAS kernel a run computes with, and why: every process of a run uses one kernel, since
/// the kernel decides a gemm's rounding.
public struct KernelChoice: Sendable, Equatable {
    /// The kernel's name as OpenBLAS spells it, e.g. `Haswell`.
    public let kernel: String
    /// One line for the log, e.g. "OpenBLAS chose Prescott, a fallback: this CPU has avx2, fma".
    public let reason: String
    /// Whether the choice replaces a kernel OpenBLAS picked below what the CPU can run.
    public let correctsFallback: Bool

    public init(kernel: String, reason: String, correctsFallback: Bool) {
        self.kernel = kernel
        self.reason = reason
        self.correctsFallback = correctsFallback
    }

    /// What `--blas-kernel` asks for: `auto`, or a kernel by name.
    public enum Request: Sendable, Equatable {
        case auto
        case named(String)

        /// `auto` or a listed kernel's name (any case); anything else is refused by name.
        public init(parsing text: String) throws {
            if text.lowercased() == "auto" {
                self = .auto
            } else if let kernel = BLASKernel.named(text) {
                self = .named(kernel.name)
            } else {
                throw ConfigurationError.invalid(
                    field: "--blas-kernel", reason: "'\(text)' is not auto or one of \(BLASKernel.knownNames)")
            }
        }

        public var text: String {
            switch self {
            case .auto: "auto"
            case .named(let name): name
            }
        }
    }

    /// The choice for a process with `features` whose OpenBLAS picked `openBLASChoice` by itself;
    /// `pin` names the inherited setting (`OPENBLAS_CORETYPE=…`) that fixes its kernel, if any.
    ///
    /// `auto` goes by the CPU's features, not OpenBLAS's table of models: it keeps OpenBLAS's pick
    /// when that is in the best tier the CPU runs (Zen on an AMD AVX2 host) and otherwise takes the
    /// tier's default (a new CPU OpenBLAS does not know gets SkylakeX, never Prescott). A pinned
    /// process keeps its kernel: Descent never overrides a setting made on purpose.
    public static func decide(
        _ request: Request, features: CPUFeatures, openBLASChoice: String, pin: String?
    ) throws -> KernelChoice {
        if let pin {
            if case .named(let name) = request, name.lowercased() != openBLASChoice.lowercased() {
                throw ConfigurationError.invalid(
                    field: "--blas-kernel",
                    reason: """
                        this process inherits \(pin), which runs kernel \(openBLASChoice), and Descent never \
                        overrides it; ask for --blas-kernel \(openBLASChoice), or start without \(pin)
                        """)
            }
            return KernelChoice(
                kernel: openBLASChoice, reason: "\(pin) is inherited: the process keeps its kernel",
                correctsFallback: false)
        }
        switch request {
        case .named(let name):
            guard let kernel = BLASKernel.named(name), kernel.runs(on: features) else {
                throw ConfigurationError.invalid(
                    field: "--blas-kernel",
                    reason: "this CPU (\(features.summary)) cannot run kernel \(name); \(runnableHint(features))")
            }
            return KernelChoice(kernel: kernel.name, reason: "--blas-kernel \(kernel.name)", correctsFallback: false)
        case .auto:
            return auto(features: features, openBLASChoice: openBLASChoice)
        }
    }

    private static func auto(features: CPUFeatures, openBLASChoice: String) -> KernelChoice {
        let best = BLASKernel.bestTier(for: features)
        guard let fallbackFix = best.first else {
            return KernelChoice(
                kernel: openBLASChoice, reason: "OpenBLAS's choice on \(features.architecture)",
                correctsFallback: false)
        }
        if let own = best.first(where: { $0.name.lowercased() == openBLASChoice.lowercased() }) {
            return KernelChoice(
                kernel: own.name, reason: "OpenBLAS's choice, the best this CPU runs",
                correctsFallback: false)
        }
        return KernelChoice(
            kernel: fallbackFix.name,
            reason: """
                OpenBLAS chose \(openBLASChoice), a fallback below this CPU; \(fallbackFix.name) is the best \
                kernel its features run
                """,
            correctsFallback: true)
    }

    static func runnableHint(_ features: CPUFeatures) -> String {
        let names = BLASKernel.known.filter { $0.runs(on: features) }.map(\.name)
        return names.isEmpty ? "it runs none of \(BLASKernel.knownNames)" : "it runs \(names.joined(separator: ", "))"
    }
}

extension CPUFeatures {
    /// `x86_64: avx, avx2, fma`, for messages.
    public var summary: String {
        "\(architecture): \(flags.isEmpty ? "no vector extensions listed" : flags.joined(separator: ", "))"
    }
}
