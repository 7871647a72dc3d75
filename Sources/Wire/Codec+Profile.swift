import Core

/// HELLO's arithmetic profile on the wire: the BLAS configuration, kernel, pin ("" for none),
/// threads, architecture, the CPU features comma-separated, and the elementary functions.
extension MessageCodec {
    static func writeProfile(_ profile: ArithmeticProfile, into writer: inout PayloadWriter) {
        writer.write(profile.blas)
        writer.write(profile.kernel)
        writer.write(profile.pin ?? "")
        writer.write(UInt32(clamping: profile.threads))
        writer.write(profile.features.architecture)
        writer.write(profile.features.flags.joined(separator: ","))
        writer.write(profile.elementary)
    }

    static func readProfile(from reader: inout PayloadReader) throws(WireError) -> ArithmeticProfile {
        let blas = try reader.read(String.self, "blas")
        let kernel = try reader.read(String.self, "kernel")
        let pin = try reader.read(String.self, "pin")
        let threads = try reader.read(UInt32.self, "threads")
        let architecture = try reader.read(String.self, "architecture")
        let flags = try reader.read(String.self, "features")
        let elementary = try reader.read(String.self, "elementary")
        return ArithmeticProfile(
            blas: blas, kernel: kernel, pin: pin.isEmpty ? nil : pin, threads: Int(threads),
            features: CPUFeatures(architecture: architecture, flags: list(flags)),
            elementary: elementary)
    }

    /// "a,b" as ["a", "b"], keeping empty items so that the list re-encodes to the same bytes.
    private static func list(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }
}
