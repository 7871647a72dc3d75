/// The numbers of a CSV field: features (finite Floats) and labels (whole numbers).
enum CSVNumbers {
    /// `Double(m) / 10^k` is exact-then-correctly-rounded for m < 2^53, k ≤ 22; rounding that
    /// Double to Float gives the correctly rounded Float as long as k ≤ 8 (the decimal is then
    /// farther than 2^-53 relative from any Float midpoint), so the fast path agrees with
    /// `Float(String)`.
    private static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]

    /// A finite number: plain decimals (`-12.5`) on a fast path, anything else `Float` accepts
    /// (exponents, long mantissas) through `Float(String)`.
    static func number(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> Float? {
        var i = field.lowerBound
        var negative = false
        if i < field.upperBound, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+") {
            negative = text[i] == UInt8(ascii: "-")
            i += 1
        }
        var mantissa = 0
        var digits = 0
        var fractionDigits = 0
        var sawPoint = false
        while i < field.upperBound {
            let byte = text[i]
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 15 {
                mantissa = mantissa * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                if sawPoint { fractionDigits += 1 }
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                return slowNumber(text, field)
            }
            i += 1
        }
        guard digits > 0, fractionDigits < powersOfTen.count else { return slowNumber(text, field) }
        let magnitude = Float(Double(mantissa) / powersOfTen[fractionDigits])
        return negative ? -magnitude : magnitude
    }

    private static func slowNumber(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> Float? {
        guard let value = Float(string(text, field)), value.isFinite else { return nil }
        return value
    }

    /// A label: a whole number that fits in Int32, written as an integer (`3`, `+3`) or as a
    /// decimal with no fraction (`3.0`, `3e0`); `1.5` is not one.
    static func label(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> Int32? {
        var i = field.lowerBound
        var negative = false
        if i < field.upperBound, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+") {
            negative = text[i] == UInt8(ascii: "-")
            i += 1
        }
        var value = 0
        var digits = 0
        while i < field.upperBound, text[i] >= UInt8(ascii: "0"), text[i] <= UInt8(ascii: "9"), digits < 10 {
            value = value * 10 + Int(text[i] - UInt8(ascii: "0"))
            digits += 1
            i += 1
        }
        if i == field.upperBound, digits > 0 {
            let signed = negative ? -value : value
            return Int32(exactly: signed)
        }
        guard let real = Double(string(text, field)), real.isFinite, real.rounded() == real else { return nil }
        return Int32(exactly: real)
    }

    static func string(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: text[field]), as: UTF8.self)
    }
}
