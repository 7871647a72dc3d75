import Core
import Wire

/// Rounds gradient segments to the 16 bits a run's partials travel in, with each shard's error
/// feedback, into one buffer kept for the session.
final class SegmentCompressor {
    let encoding: GradientEncoding
    private let bits: UnsafeMutableBufferPointer<UInt16>

    init(encoding: GradientEncoding, count: Int) {
        self.encoding = encoding
        bits = .allocate(capacity: count)
        bits.initialize(repeating: 0)
    }

    deinit {
        bits.deallocate()
    }

    /// The frames of `partial` carrying `gradient[range]` rounded with `residual`, which keeps
    /// what the rounding left out for the shard's next partial.
    func frames(
        _ partial: Partial, gradient: UnsafePointer<Float>, range: Range<Int>, residual: ErrorFeedback
    ) -> [[UInt8]] {
        residual.compress(gradient, into: bits.baseAddress!, range: range)
        return MessageCodec.encodePartial(partial, encoding: encoding, bits: UnsafeBufferPointer(rebasing: bits[range]))
    }
}
