#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object on one line, keys in the order given: the metrics file's and summary's format.
public struct JSONLine {
    private var parts: [String] = []

    public init() {}

    public mutating func add(_ key: String, _ value: Int) { parts.append("\(JSONLine.quote(key)):\(value)") }

    /// Non-finite numbers have no JSON form and are written as null.
    public mutating func add(_ key: String, _ value: Double) {
        parts.append("\(JSONLine.quote(key)):\(value.isFinite ? "\(value)" : "null")")
    }

    /// A flat object of whole numbers, keys in sorted order: `{"0":512,"1":512}`.
    public mutating func add(_ key: String, _ values: [String: Int]) {
        let members = values.keys.sorted().map { "\(JSONLine.quote($0)):\(values[$0]!)" }
        parts.append("\(JSONLine.quote(key)):{" + members.joined(separator: ",") + "}")
    }

    public mutating func add(_ key: String, _ value: String) { parts.append("\(JSONLine.quote(key)):\(JSONLine.quote(value))") }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    /// A JSON string literal (RFC 8259 §7): quotes, backslashes and control characters escaped.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
