/// Float32 values as the protocol carries them: little-endian bit patterns, back to back.
///
/// A received array is a view of the frame it arrived in — decoding copies nothing — and an array
/// to send is one copy of the caller's values. `copy(into:)` and `withUnsafeBytes` hand the
/// values on in one bulk copy or none; the collection interface reads them one at a time.
public struct FloatArray: @unchecked Sendable, Equatable, RandomAccessCollection, ExpressibleByArrayLiteral {
    private let storage: ArrayBytes
    public let count: Int

    /// A copy of `values`.
    public init(_ values: [Float]) {
        self = values.withUnsafeBufferPointer { FloatArray(copying: $0) }
    }

    public init(arrayLiteral elements: Float...) { self.init(elements) }

    /// A copy of the values at `values`.
    public init(copying values: UnsafeBufferPointer<Float>) {
        count = values.count
        #if _endian(little)
        storage = .owned([UInt8](UnsafeRawBufferPointer(values)), offset: 0)
        #else
        storage = .owned(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }, offset: 0)
        #endif
    }

    /// The `count` values at `bytes[offset...]`: a view, no copy.
    init(viewing bytes: [UInt8], offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + 4 * count <= bytes.count, "a view inside its bytes")
        storage = .owned(bytes, offset: offset)
        self.count = count
    }

    /// The values at `values`, not copied: see `ArrayBytes.borrowed`.
    init(borrowing values: UnsafeBufferPointer<Float>) {
        count = values.count
        storage = .borrowed(UnsafeRawBufferPointer(values))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Float {
        precondition(position >= 0 && position < count, "index \(position) out of 0..<\(count)")
        return withUnsafeBytes {
            Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * position, as: UInt32.self)))
        }
    }

    /// The values as a Swift array (a copy).
    public var array: [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            copy(into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// Writes the values to `destination`, which has room for `count` of them.
    public func copy(into destination: UnsafeMutablePointer<Float>) {
        guard count > 0 else { return }
        withUnsafeBytes { bytes in
            #if _endian(little)
            UnsafeMutableRawPointer(destination).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            #else
            for i in 0..<count { destination[i] = self[i] }
            #endif
        }
    }

    /// The values' little-endian bytes, 4 × `count` of them, in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(count: 4 * count, body)
    }

    /// The values as Float32s in place, when the host is little-endian and they lie 4-byte
    /// aligned (as in every frame this protocol makes); otherwise an aligned copy.
    public func withUnsafeFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        #if _endian(little)
        let aligned = try withUnsafeBytes { bytes -> R? in
            guard let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 else { return nil }
            return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: count))
        }
        if let aligned { return aligned }
        #endif
        return try array.withUnsafeBufferPointer(body)
    }

    /// Equal values, as Float compares them (so an array holding NaN differs from itself, as
    /// `[Float]` does).
    public static func == (lhs: FloatArray, rhs: FloatArray) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }
}
