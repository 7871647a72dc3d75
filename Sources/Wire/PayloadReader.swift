/// Reads little-endian fields from a payload, refusing to read past its end.
///
/// Every read checks the bytes it needs against those left, with overflow-checked arithmetic,
/// before touching or allocating anything, so hostile lengths cannot trap or exhaust memory.
struct PayloadReader {
    private let bytes: [UInt8]
    private var position: Int
    private let end: Int

    /// A reader over `bytes[start...]`.
    init(_ bytes: [UInt8], from start: Int) {
        self.bytes = bytes
        position = start
        end = bytes.count
    }

    var remaining: Int { end - position }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self, _ field: String) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, for: field)
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: T.self) }
        position += size
        return T(littleEndian: value)
    }

    mutating func read(_: Double.Type, _ field: String) throws(WireError) -> Double {
        Double(bitPattern: try read(UInt64.self, field))
    }

    mutating func read(_: Float.Type, _ field: String) throws(WireError) -> Float {
        Float(bitPattern: try read(UInt32.self, field))
    }

    mutating func readCount(_ field: String) throws(WireError) -> Int {
        Int(try read(UInt32.self, field))
    }

    /// A u32 length, then that many bytes of valid UTF-8, at most `WireProtocol.maxStringBytes`.
    mutating func read(_: String.Type, _ field: String) throws(WireError) -> String {
        let length = try readCount("\(field) length")
        guard length <= WireProtocol.maxStringBytes else {
            throw .malformedPayload("\(field) is \(length) bytes, limit \(WireProtocol.maxStringBytes)")
        }
        try need(length, for: field)
        let utf8 = bytes[position..<position + length]
        position += length
        let string = String(decoding: utf8, as: UTF8.self)
        // Decoding replaces invalid sequences, so any change means the bytes were not UTF-8.
        guard string.utf8.elementsEqual(utf8) else {
            throw .malformedPayload("\(field) is not valid UTF-8")
        }
        return string
    }

    /// A u32 count, then that many strings; every string takes at least its 4-byte length, so
    /// a count the payload cannot hold is refused before anything is reserved.
    mutating func read(_: [String].Type, _ field: String) throws(WireError) -> [String] {
        let count = try readCount("\(field) count")
        guard count <= remaining / 4 else {
            throw .malformedPayload("\(field) count \(count) cannot fit in \(remaining) bytes")
        }
        return try (0..<count).map { (index) throws(WireError) in try read(String.self, "\(field)[\(index)]") }
    }

    /// A u32 count, then that many integers.
    mutating func read<T: FixedWidthInteger & BitwiseCopyable>(_: [T].Type, _ field: String) throws(WireError) -> [T] {
        let count = try readCount("\(field) count")
        let raw: [T] = try readBulk(count: count, field)
        #if _endian(little)
            return raw
        #else
            return raw.map { T(littleEndian: $0) }
        #endif
    }

    /// A u32 count, then that many IEEE 754 binary32 values.
    mutating func read(_: [Float].Type, _ field: String) throws(WireError) -> [Float] {
        let count = try readCount("\(field) count")
        let raw: [Float] = try readBulk(count: count, field)
        #if _endian(little)
            return raw
        #else
            return raw.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
    }

    /// A u32 count, then that many scalars, as a view of the payload's bytes.
    mutating func read<Element>(_: WireArray<Element>.Type, _ field: String) throws(WireError) -> WireArray<Element> {
        let (offset, count) = try readView(width: MemoryLayout<Element.Bits>.size, field)
        return WireArray(viewing: bytes, offset: offset, count: count)
    }

    /// A u32 count, then that many values of `width` bytes, skipped: where they start, and how
    /// many there are.
    private mutating func readView(width: Int, _ field: String) throws(WireError) -> (offset: Int, count: Int) {
        let count = try readCount("\(field) count")
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow else { throw .malformedPayload("\(field) count \(count) overflows") }
        try need(byteCount, for: field)
        defer { position += byteCount }
        return (position, count)
    }

    /// `count` bytes of padding, which must be zero so that a message has one encoding.
    mutating func readPadding(_ count: Int, _ field: String) throws(WireError) {
        try need(count, for: field)
        guard bytes[position..<position + count].allSatisfy({ $0 == 0 }) else {
            throw .malformedPayload("\(field) is not zero")
        }
        position += count
    }

    /// Fails unless the payload has been read to its last byte.
    func finish() throws(WireError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }

    private func need(_ count: Int, for field: String) throws(WireError) {
        guard count <= remaining else {
            throw .malformedPayload("\(field) needs \(count) bytes, only \(remaining) remain")
        }
    }

    /// `count` elements, copied in one go with their bytes as stored.
    private mutating func readBulk<T: BitwiseCopyable>(count: Int, _ field: String) throws(WireError) -> [T] {
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow else { throw .malformedPayload("\(field) count \(count) overflows") }
        try need(byteCount, for: field)
        let start = position
        let array = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                if let destination = buffer.baseAddress, byteCount > 0, let base = source.baseAddress {
                    UnsafeMutableRawPointer(destination).copyMemory(from: base + start, byteCount: byteCount)
                }
            }
            initialized = count
        }
        position += byteCount
        return array
    }
}
