/// A fingerprint of a dataset's contents, recorded in models so that a model says which data it
/// learnt from: FNV-1a (64-bit) over m, n0, every label and every feature's bits, as 16 hex digits.
/// The same examples in the same order give the same fingerprint whatever file format held them.
extension Dataset {
    public var fingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ word: UInt64) {
            hash = (hash ^ word) &* 0x0000_0100_0000_01b3
        }
        mix(UInt64(count))
        mix(UInt64(featureCount))
        for label in labels { mix(UInt64(UInt32(bitPattern: label))) }
        let values = UnsafeBufferPointer(start: features.storage, count: features.count)
        for value in values { mix(UInt64(value.bitPattern)) }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
