/// The bytes behind a `WireArray` (`FloatArray`, `HalfArray`): owned with the array (a received array is
/// its frame, viewed from an offset), shared (parameters a worker reads where the coordinator put
/// them), or borrowed from the caller for the length of one call.
enum ArrayBytes {
    /// Bytes owned with the array: `bytes[offset...]`.
    case owned([UInt8], offset: Int)
    /// Memory the array does not own, valid only while an encoder runs (`MessageCodec`'s
    /// `encodeParams` and `encodePartial`); never held beyond that call.
    case borrowed(UnsafeRawBufferPointer)
    /// Memory mapped from another process, kept mapped by `owner` for as long as the array lives
    /// (`ParameterBoard`).
    case shared(UnsafeRawBufferPointer, owner: AnyObject)

    /// The first `byteCount` bytes, in place.
    func withUnsafeBytes<R>(count byteCount: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .owned(let bytes, let offset):
            return try bytes.withUnsafeBytes { raw in
                try body(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + byteCount]))
            }
        case .borrowed(let raw), .shared(let raw, _):
            return try body(UnsafeRawBufferPointer(rebasing: raw[..<byteCount]))
        }
    }
}
