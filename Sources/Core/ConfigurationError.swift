/// A flag, config value or model file that does not fit what was asked of it.
public enum ConfigurationError: Error, CustomStringConvertible, Equatable {
    case invalid(field: String, reason: String)
    case modelMismatch(file: String, reason: String)
    case dataMismatch(field: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): return "invalid \(field): \(reason)"
        case .modelMismatch(let file, let reason): return "\(file): \(reason)"
        case .dataMismatch(let field, let reason): return "\(field) does not fit the data: \(reason)"
        }
    }
}
