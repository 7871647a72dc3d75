import Core

/// The byte a WELCOME and each PARTIAL carry for how gradients travel.
extension GradientEncoding {
    /// The encoding's code on the wire.
    var wireCode: UInt8 {
        switch self {
        case .float32: 0
        case .float16: 1
        case .bfloat16: 2
        }
    }

    /// The encoding `code` names, or nil if it names none.
    init?(wireCode code: UInt8) {
        guard let encoding = Self.allCases.first(where: { $0.wireCode == code }) else { return nil }
        self = encoding
    }
}
