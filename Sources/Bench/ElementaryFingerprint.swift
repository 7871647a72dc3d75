import Core
import Foundation

/// Hashes of Descent's elementary functions over fixed inputs, and glibc's expf where its FMA and
/// non-FMA code round differently: ElementaryTests run this in two processes, one with glibc's FMA
/// code masked, and expect Descent's lines to agree and glibc's not to.
enum ElementaryFingerprint {
    /// The two Floats in (−100, 100) where glibc's two expf differ by an ulp.
    static let glibcWitnesses: [Float] = [-63.099_461, 32.564_632]

    /// One line per function: its name and a hash of its results' bits; then `glibc-expf` and the
    /// bits of glibc's expf at the witnesses.
    static func lines() -> [String] {
        let inputs = floatInputs()
        var lines: [String] = []
        let scalars: [(String, (Float) -> Float)] = [
            ("exp", Elementary.exp), ("log", Elementary.log), ("log1p", Elementary.log1p),
            ("tanh", Elementary.tanh), ("logistic", Elementary.logistic),
        ]
        for (name, f) in scalars { lines.append("\(name) \(hash(inputs.map { f($0).bitPattern }))") }
        let arrays: [(String, (UnsafeMutablePointer<Float>, Int) -> Void)] = [
            ("exp-array", Elementary.exp(inPlace:count:)), ("tanh-array", Elementary.tanh(inPlace:count:)),
            ("logistic-array", Elementary.logistic(inPlace:count:)),
        ]
        for (name, f) in arrays {
            var values = inputs
            values.withUnsafeMutableBufferPointer { f($0.baseAddress!, $0.count) }
            lines.append("\(name) \(hash(values.map(\.bitPattern)))")
        }
        let units = (1...10_000).map { Double($0) / 10_001 }
        lines.append("exp-double \(hash(units.map { Elementary.exp(-700 * $0).bitPattern }))")
        lines.append("log-double \(hash(units.map { Elementary.log($0).bitPattern }))")
        lines.append("cospi \(hash(units.map { Elementary.cos(piTimes: 2 * $0).bitPattern }))")
        let steps = (1...10_000).map { Float($0) }
        lines.append("pow \(hash(steps.map { Elementary.pow(0.999, $0).bitPattern }))")
        let glibc = glibcWitnesses.map { String(Foundation.exp($0).bitPattern, radix: 16) }
        lines.append("glibc-expf " + glibc.joined(separator: " "))
        return lines
    }

    /// Every Float within 2^12 bit patterns of a witness, and every 65 521st bit pattern of all:
    /// small enough for a debug build to hash in a moment.
    private static func floatInputs() -> [Float] {
        var bits: [UInt32] = []
        for witness in glibcWitnesses {
            let center = witness.bitPattern
            bits += (center - 4096)...(center + 4096)
        }
        bits += stride(from: UInt32(0), to: UInt32.max, by: 65_521)
        return bits.map(Float.init(bitPattern:))
    }

    /// FNV-1a taking a whole word per step, in hex.
    private static func hash(_ words: [UInt64]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for word in words {
            h = (h ^ word) &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }

    private static func hash(_ words: [UInt32]) -> String { hash(words.map(UInt64.init)) }
}
