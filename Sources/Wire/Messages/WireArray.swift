/// A scalar the protocol carries as its little-endian bits, back to back.
public protocol WireScalar: Equatable, Sendable, BitwiseCopyable {
    associatedtype Bits: FixedWidthInteger & BitwiseCopyable
    init(wireBits: Bits)
    var wireBits: Bits { get }
}

extension Float: WireScalar {
    public init(wireBits: UInt32) { self.init(bitPattern: wireBits) }
    public var wireBits: UInt32 { bitPattern }
}

extension UInt16: WireScalar {
    public init(wireBits: UInt16) { self = wireBits }
    public var wireBits: UInt16 { self }
}

/// Float32 values as the protocol carries them (PARAMS, float32 PARTIAL gradients).
public typealias FloatArray = WireArray<Float>
/// float16 or bfloat16 bit patterns (compressed PARTIAL gradients): what they mean is the
/// `GradientEncoding` they travel with, and Core converts them; equality compares the bits.
public typealias HalfArray = WireArray<UInt16>

/// Scalars as the protocol carries them: little-endian, back to back.
///
/// A received array is a view of the frame it arrived in — decoding copies nothing — and an array
/// to send is one copy of the caller's values. `copy(into:)` and `withUnsafeElements` hand the
/// values on in one bulk copy or none; the collection interface reads them one at a time.
public struct WireArray<Element: WireScalar>: @unchecked Sendable, Equatable, RandomAccessCollection,
    ExpressibleByArrayLiteral
{
    private let storage: ArrayBytes
    public let count: Int

    private static var width: Int { MemoryLayout<Element.Bits>.size }

    /// A copy of `values`.
    public init(_ values: [Element]) {
        self = values.withUnsafeBufferPointer { WireArray(copying: $0) }
    }

    public init(arrayLiteral elements: Element...) { self.init(elements) }

    /// A copy of the values at `values`.
    public init(copying values: UnsafeBufferPointer<Element>) {
        count = values.count
        #if _endian(little)
            storage = .owned([UInt8](UnsafeRawBufferPointer(values)), offset: 0)
        #else
            storage = .owned(values.flatMap { withUnsafeBytes(of: $0.wireBits.littleEndian, Array.init) }, offset: 0)
        #endif
    }

    /// The `count` values at `bytes[offset...]`: a view, no copy.
    init(viewing bytes: [UInt8], offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + Self.width * count <= bytes.count, "a view inside its bytes")
        storage = .owned(bytes, offset: offset)
        self.count = count
    }

    /// The values at `values`, not copied: see `ArrayBytes.borrowed`.
    init(borrowing values: UnsafeBufferPointer<Element>) {
        count = values.count
        storage = .borrowed(UnsafeRawBufferPointer(values))
    }

    /// The `count` values at `bytes`, in memory `owner` keeps mapped: a view, no copy.
    init(sharing bytes: UnsafeRawBufferPointer, count: Int, owner: AnyObject) {
        precondition(Self.width * count <= bytes.count, "a view inside its bytes")
        storage = .shared(bytes, owner: owner)
        self.count = count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < count, "index \(position) out of 0..<\(count)")
        return withUnsafeBytes {
            Element(
                wireBits: Element.Bits(
                    littleEndian: $0.loadUnaligned(fromByteOffset: Self.width * position, as: Element.Bits.self)))
        }
    }

    /// The values as a Swift array (a copy).
    public var array: [Element] {
        [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            copy(into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// Writes the values to `destination`, which has room for `count` of them.
    public func copy(into destination: UnsafeMutablePointer<Element>) {
        guard count > 0 else { return }
        withUnsafeBytes { bytes in
            #if _endian(little)
                UnsafeMutableRawPointer(destination).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            #else
                for i in 0..<count { destination[i] = self[i] }
            #endif
        }
    }

    /// The values' little-endian bytes, width × `count` of them, in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(count: Self.width * count, body)
    }

    /// The values in place, when the host is little-endian and they lie aligned (as in every
    /// frame this protocol makes); otherwise an aligned copy.
    public func withUnsafeElements<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        #if _endian(little)
            let aligned = try withUnsafeBytes { bytes -> R? in
                guard let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Element>.alignment == 0 else {
                    return nil
                }
                return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Element.self), count: count))
            }
            if let aligned { return aligned }
        #endif
        return try array.withUnsafeBufferPointer(body)
    }

    /// Equal values, as `Element` compares them (so a Float array holding NaN differs from
    /// itself, as `[Float]` does).
    public static func == (lhs: WireArray, rhs: WireArray) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }
}

extension WireArray where Element == Float {
    /// Where a received array's values lie in their frame (or in memory shared by the coordinator),
    /// when they can be used there (a little-endian host, aligned as in every frame this protocol
    /// makes); nil otherwise. Valid for as long as this array, or a copy of it, lives.
    public var receivedFloats: UnsafePointer<Float>? {
        #if _endian(little)
            if case .borrowed = storage { return nil }
            return withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 else {
                    return nil
                }
                return base.assumingMemoryBound(to: Float.self)
            }
        #else
            return nil
        #endif
    }

    /// `withUnsafeElements`, by its Float32 name.
    public func withUnsafeFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeElements(body)
    }
}

extension WireArray where Element == UInt16 {
    /// `withUnsafeElements`, by its bit-pattern name.
    public func withUnsafeBits<R>(_ body: (UnsafeBufferPointer<UInt16>) throws -> R) rethrows -> R {
        try withUnsafeElements(body)
    }
}
