extension FaultRule.Corruption {
    /// `frames` corrupted; unchanged when they are not a message this corruption applies to.
    func apply(to frames: [[UInt8]]) -> [[UInt8]] {
        switch self {
        case .payloadByte:
            return Self.flippingLastByte(of: frames)
        case .nanGradients:
            guard case .partial(var partial) = try? MessageCodec.decode(frames) else { return frames }
            partial.gradients = Self.nan(like: partial.gradients)
            return MessageCodec.encode(.partial(partial))
        case .protocolVersion(let version):
            guard case .hello(var hello) = try? MessageCodec.decode(frames) else { return frames }
            hello.protocolVersion = version
            // The header's version is what a receiver checks first (offset 4, little-endian).
            return MessageCodec.encode(.hello(hello)).map { frame in
                var frame = frame
                frame[4] = UInt8(version & 0xFF)
                frame[5] = UInt8(version >> 8)
                return frame
            }
        }
    }

    /// The last byte of the first frame flipped: a payload byte, or the checksum's when the payload
    /// is empty; either way the checksum no longer matches.
    private static func flippingLastByte(of frames: [[UInt8]]) -> [[UInt8]] {
        guard var first = frames.first, !first.isEmpty else { return frames }
        first[first.count - 1] ^= 0xFF
        return [first] + frames.dropFirst()
    }

    /// As many quiet NaNs as `gradients` holds, in its encoding.
    private static func nan(like gradients: PartialGradients) -> PartialGradients {
        switch gradients {
        case .float32(let values): .float32(FloatArray(Array(repeating: .nan, count: values.count)))
        case .float16(let bits): .float16(HalfArray(Array(repeating: 0x7E00, count: bits.count)))
        case .bfloat16(let bits): .bfloat16(HalfArray(Array(repeating: 0x7FC0, count: bits.count)))
        }
    }
}
