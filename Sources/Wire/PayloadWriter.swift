/// Appends little-endian fields to a growing byte buffer; arrays go in as one bulk copy.
struct PayloadWriter {
    /// Everything written so far, after `reserved` leading bytes the caller fills later.
    private(set) var bytes: [UInt8]

    /// A writer whose buffer starts with `reserved` zero bytes (room for a frame header).
    init(reserved: Int, capacity: Int) {
        bytes = [UInt8](repeating: 0, count: reserved)
        bytes.reserveCapacity(reserved + capacity)
    }

    /// Everything written, handed over so that the caller holds the only reference: writing the
    /// header into it then costs no copy.
    mutating func finish() -> [UInt8] {
        let finished = bytes
        bytes = []
        return finished
    }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: Double) {
        write(value.bitPattern)
    }

    mutating func write(_ value: Float) {
        write(value.bitPattern)
    }

    /// A count, as u32. More than 2³² − 1 elements cannot be described by the protocol.
    mutating func writeCount(_ count: Int) {
        precondition(count <= Int(UInt32.max), "\(count) elements exceed the protocol's u32 counts")
        write(UInt32(count))
    }

    /// A u32 length, then the UTF-8 bytes, cut to `WireProtocol.maxStringBytes` on a scalar
    /// boundary so the receiver, which refuses longer strings, still gets valid UTF-8.
    mutating func write(_ string: String) {
        var utf8 = Array(string.utf8)
        if utf8.count > WireProtocol.maxStringBytes {
            var end = WireProtocol.maxStringBytes
            while end > 0 && utf8[end] & 0b1100_0000 == 0b1000_0000 { end -= 1 }
            utf8.removeSubrange(end...)
        }
        writeCount(utf8.count)
        bytes.append(contentsOf: utf8)
    }

    /// A u32 count, then each string as `write(_:)` writes it.
    mutating func write(_ strings: [String]) {
        writeCount(strings.count)
        for string in strings { write(string) }
    }

    /// A u32 count, then the elements back to back.
    mutating func write<T: FixedWidthInteger>(_ array: [T]) {
        writeCount(array.count)
        #if _endian(little)
            array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            for element in array { write(element) }
        #endif
    }

    /// A u32 count, then the values' little-endian bytes as they lie.
    mutating func write<Element>(_ array: WireArray<Element>) {
        writeCount(array.count)
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// `count` zero bytes, which keep the field after them aligned.
    mutating func writePadding(_ count: Int) {
        bytes.append(contentsOf: repeatElement(0, count: count))
    }

    /// A u32 count, then IEEE 754 binary32 values back to back.
    mutating func write(_ array: [Float]) {
        writeCount(array.count)
        #if _endian(little)
            array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            for element in array { write(element.bitPattern) }
        #endif
    }
}
