import CBLAS

/// What decides a process's bits: the BLAS library, its kernel and threads, the CPU's architecture
/// and features, and the elementary functions (exp, log, tanh) the activations and losses use.
///
/// Workers send theirs with HELLO; the coordinator admits only those that compute as the run does,
/// logs the profiles, and records its own in every model and checkpoint it writes.
public struct ArithmeticProfile: Sendable, Equatable {
    /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public var blas: String
    /// The kernel the process computes with (`openblas_get_corename()`).
    public var kernel: String
    /// The inherited setting that fixes the kernel (e.g. `OPENBLAS_CORETYPE=Haswell`); nil when
    /// Descent may choose it.
    public var pin: String?
    public var threads: Int
    public var features: CPUFeatures
    /// Which implementation of the elementary functions the binary carries.
    public var elementary: String

    /// Core's own exp, log, log1p and tanh: the same bits on every CPU that runs the binary.
    public static let elementaryFunctions = "descent-elementary-1"

    public init(
        blas: String, kernel: String, pin: String?, threads: Int, features: CPUFeatures,
        elementary: String = ArithmeticProfile.elementaryFunctions
    ) {
        self.blas = blas
        self.kernel = kernel
        self.pin = pin
        self.threads = threads
        self.features = features
        self.elementary = elementary
    }

    /// This process's profile as it computes now.
    public static func current(threads: Int) -> ArithmeticProfile {
        ArithmeticProfile(
            blas: BLAS.configuration, kernel: BLAS.kernelName, pin: KernelAlignment.inheritedPin, threads: threads,
            features: .current)
    }

    /// One line for logs and refusals.
    public var summary: String {
        let pinned = pin.map { ", pinned by \($0)" } ?? ""
        return "kernel \(kernel)\(pinned), \(threads) thread(s), \(features.summary), \(blasVersion), \(elementary)"
    }

    /// "OpenBLAS 0.3.21", the library and version from `blas`.
    public var blasVersion: String { blas.split(separator: " ").prefix(2).joined(separator: " ") }

    /// The keys models and checkpoints carry, so `inspect` says how they were computed.
    public var metadata: [String: String] {
        [
            "blas": blas, "blas_kernel": kernel, "blas_threads": String(threads),
            "cpu_architecture": features.architecture, "cpu_features": features.flags.joined(separator: ","),
            "elementary_functions": elementary,
        ]
    }

    /// Why a process with this profile cannot compute as the run `run` does with kernel `kernel`;
    /// nil when it can (on another kernel, after switching to the run's).
    public func mismatch(runKernel kernel: String, run: ArithmeticProfile) -> String? {
        if features.architecture != run.features.architecture {
            return "it runs on \(features.architecture), the run on \(run.features.architecture)"
        }
        if elementary != run.elementary {
            return "its elementary functions are \(elementary), the run's \(run.elementary) (use the same binary)"
        }
        if self.kernel.lowercased() == kernel.lowercased() { return nil }
        if let pin { return "its \(pin) fixes kernel \(self.kernel), the run computes with \(kernel)" }
        guard let wanted = BLASKernel.named(kernel), wanted.runs(on: features) else {
            return "its CPU cannot run the run's kernel \(kernel)"
        }
        return nil
    }
}

extension BLAS {
    /// The kernel OpenBLAS computes with in this process, e.g. `Haswell`.
    public static var kernelName: String { String(cString: openblas_get_corename()) }
    /// OpenBLAS's build description: version, DYNAMIC_ARCH, the kernel.
    public static var configuration: String { String(cString: openblas_get_config()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
