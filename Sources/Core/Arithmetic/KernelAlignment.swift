#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Puts this process on a run's BLAS kernel. OpenBLAS reads `OPENBLAS_CORETYPE` only when it
/// loads, so a process on another kernel re-executes itself with the variable set.
///
/// `DESCENT_BLAS_KERNEL` beside it marks the variable as Descent's own choice (which it may change
/// again: a worker that joins a run with another kernel); `OPENBLAS_CORETYPE` without it, or
/// `OPENBLAS_L2_SIZE`, was set on purpose (old OpenBLAS builds miscompute or crash on some CPUs),
/// and is never overridden.
public enum KernelAlignment {
    public static let kernelVariable = "OPENBLAS_CORETYPE"
    public static let cacheVariable = "OPENBLAS_L2_SIZE"
    public static let marker = "DESCENT_BLAS_KERNEL"
    /// What OpenBLAS picked by itself before the first re-execution, so the reason is not lost.
    public static let openBLASChoiceVariable = "DESCENT_BLAS_DEFAULT"

    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The inherited setting that fixes this process's kernel, e.g. `OPENBLAS_CORETYPE=Haswell`.
    public static var inheritedPin: String? {
        let env = environment
        if let size = env[cacheVariable] { return "\(cacheVariable)=\(size)" }
        if let core = env[kernelVariable], env[marker] != core { return "\(kernelVariable)=\(core)" }
        return nil
    }

    /// The kernel OpenBLAS chose for this CPU by itself, before Descent set one.
    public static var openBLASChoice: String {
        let env = environment
        if env[marker] != nil, let original = env[openBLASChoiceVariable] { return original }
        return BLAS.kernelName
    }

    /// Returns when this process computes with `kernel`; otherwise re-executes it with that kernel
    /// (and does not return), or throws when it may not or OpenBLAS did not take it.
    public static func ensure(_ kernel: String) throws {
        let current = BLAS.kernelName
        if current.lowercased() == kernel.lowercased() { return }
        if let pin = inheritedPin {
            throw ConfigurationError.invalid(
                field: kernelVariable,
                reason: "this process inherits \(pin) (kernel \(current)), which Descent never overrides; "
                    + "the run computes with \(kernel)")
        }
        if environment[marker]?.lowercased() == kernel.lowercased() {
            throw ConfigurationError.invalid(
                field: kernelVariable, reason: "OpenBLAS did not take kernel \(kernel): it computes with \(current)")
        }
        if environment[openBLASChoiceVariable] == nil { setenv(openBLASChoiceVariable, openBLASChoice, 1) }
        setenv(kernelVariable, kernel, 1)
        setenv(marker, kernel, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        throw ConfigurationError.invalid(
            field: kernelVariable,
            reason: "could not re-execute with kernel \(kernel): \(String(cString: strerror(errno)))")
    }
}
