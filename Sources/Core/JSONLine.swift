#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// One JSON object on one line, keys in the order given: the metrics file's and summary's format.
///
/// Built in one growing string: a metrics line is written every step, on the coordinator's
/// critical path.
public struct JSONLine {
    private var body = ""

    public init() {
        body.reserveCapacity(512)
    }

    private mutating func member(_ key: String) {
        body += body.isEmpty ? "{" : ","
        JSONLine.quote(key, into: &body)
        body += ":"
    }

    public mutating func add(_ key: String, _ value: Int) {
        member(key)
        body += String(value)
    }

    /// Non-finite numbers have no JSON form and are written as null.
    public mutating func add(_ key: String, _ value: Double) {
        member(key)
        body += value.isFinite ? value.description : "null"
    }

    /// A flat object of whole numbers, keys in sorted order: `{"0":512,"1":512}`.
    public mutating func add(_ key: String, _ values: [String: Int]) {
        member(key)
        body += "{"
        for (index, name) in values.keys.sorted().enumerated() {
            if index > 0 { body += "," }
            JSONLine.quote(name, into: &body)
            body += ":" + String(values[name]!)
        }
        body += "}"
    }

    /// A list of whole numbers: `[117568,117578]`.
    public mutating func add(_ key: String, _ values: [Int]) {
        member(key)
        body += "[" + values.map(String.init).joined(separator: ",") + "]"
    }

    public mutating func add(_ key: String, _ value: String) {
        member(key)
        JSONLine.quote(value, into: &body)
    }

    public var text: String { body.isEmpty ? "{}" : body + "}" }

    /// A JSON string literal (RFC 8259 §7): quotes, backslashes and control characters escaped.
    static func quote(_ s: String) -> String {
        var out = ""
        quote(s, into: &out)
        return out
    }

    /// `quote(s)`, appended to `out`; a string with nothing to escape is appended as it is.
    static func quote(_ s: String, into out: inout String) {
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            out += "\""
            out += s
            out += "\""
            return
        }
        out += "\""
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
        out += "\""
    }
}
