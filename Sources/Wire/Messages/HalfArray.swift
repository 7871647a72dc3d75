/// 16-bit values as the protocol carries them: float16 or bfloat16 bit patterns, little-endian,
/// back to back — `FloatArray`'s counterpart for the gradients of a compressed PARTIAL.
///
/// The array holds bit patterns, not numbers: what they mean is the `GradientEncoding` they
/// travel with, and Core converts them. A received array is a view of the frame it arrived in;
/// `withUnsafeBits` hands the bit patterns on in place. Equality compares bit patterns.
public struct HalfArray: @unchecked Sendable, Equatable, RandomAccessCollection, ExpressibleByArrayLiteral {
    private let storage: ArrayBytes
    public let count: Int

    /// A copy of `bits`.
    public init(_ bits: [UInt16]) {
        count = bits.count
        #if _endian(little)
        storage = .owned(bits.withUnsafeBytes { [UInt8]($0) }, offset: 0)
        #else
        storage = .owned(bits.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }, offset: 0)
        #endif
    }

    public init(arrayLiteral elements: UInt16...) { self.init(elements) }

    /// The `count` values at `bytes[offset...]`: a view, no copy.
    init(viewing bytes: [UInt8], offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + 2 * count <= bytes.count, "a view inside its bytes")
        storage = .owned(bytes, offset: offset)
        self.count = count
    }

    /// The values at `bits`, not copied: see `ArrayBytes.borrowed`.
    init(borrowing bits: UnsafeBufferPointer<UInt16>) {
        count = bits.count
        storage = .borrowed(UnsafeRawBufferPointer(bits))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> UInt16 {
        precondition(position >= 0 && position < count, "index \(position) out of 0..<\(count)")
        return withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 2 * position, as: UInt16.self)) }
    }

    /// The values' little-endian bytes, 2 × `count` of them, in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(count: 2 * count, body)
    }

    /// The bit patterns in place, when the host is little-endian and they lie 2-byte aligned (as
    /// in every frame this protocol makes); otherwise an aligned copy.
    public func withUnsafeBits<R>(_ body: (UnsafeBufferPointer<UInt16>) throws -> R) rethrows -> R {
        #if _endian(little)
        let aligned = try withUnsafeBytes { bytes -> R? in
            guard let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<UInt16>.alignment == 0 else { return nil }
            return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt16.self), count: count))
        }
        if let aligned { return aligned }
        #endif
        return try Array(self).withUnsafeBufferPointer(body)
    }

    public static func == (lhs: HalfArray, rhs: HalfArray) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }
}
