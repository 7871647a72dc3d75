/// Cuts CSV text into records of fields (RFC 4180): commas between fields, `\n` or `\r\n`
/// between records, a field in double quotes may hold commas, line ends and `""` (one quote).
///
/// A record without a quote (the usual numeric row) is cut in place, in one pass over its bytes:
/// its fields are ranges of `text`. A record with one is decoded into `decoded`, and its fields
/// are ranges of that. Spaces, tabs and carriage returns around a field (outside its quotes) are
/// trimmed.
struct CSVRecords {
    let text: UnsafeBufferPointer<UInt8>
    let file: String
    /// Where the next record starts.
    private var position: Int
    /// The 1-based line the next record starts on.
    private var nextLine = 1
    /// The 1-based line the current record starts on.
    private(set) var line = 0
    /// The current record's fields: ranges of `text`, or of `decoded` when `isDecoded`.
    private(set) var fields: [Range<Int>] = []
    private(set) var decoded: [UInt8] = []
    private(set) var isDecoded = false

    private static let comma = UInt8(ascii: ",")
    private static let newline = UInt8(ascii: "\n")
    private static let quote = UInt8(ascii: "\"")

    init(_ text: UnsafeBufferPointer<UInt8>, file: String) {
        self.text = text
        self.file = file
        let byteOrderMark: [UInt8] = [0xef, 0xbb, 0xbf]
        position = text.starts(with: byteOrderMark) ? 3 : 0
    }

    /// Whether the current record is a blank line (one empty field, not quoted).
    var isBlank: Bool { !isDecoded && fields.count == 1 && fields[0].isEmpty }

    /// Moves to the next record; false at the end of the text.
    mutating func next() throws(DatasetError) -> Bool {
        guard position < text.count else { return false }
        line = nextLine
        fields.removeAll(keepingCapacity: true)
        isDecoded = false
        var start = position
        var i = position
        while i < text.count {
            let byte = text[i]
            if byte == Self.comma {
                fields.append(Self.trimmed(text, start..<i))
                start = i + 1
            } else if byte == Self.newline {
                break
            } else if byte == Self.quote {
                try decodeQuoted()
                return true
            }
            i += 1
        }
        fields.append(Self.trimmed(text, start..<i))
        position = i + 1
        nextLine += 1
        return true
    }

    /// The record at `position`, which holds a quote, decoded field by field into `decoded`.
    private mutating func decodeQuoted() throws(DatasetError) {
        fields.removeAll(keepingCapacity: true)
        decoded.removeAll(keepingCapacity: true)
        isDecoded = true
        var i = position
        while true {
            let start = decoded.count
            while i < text.count, Self.isSpace(text[i]) { i += 1 }
            if i < text.count, text[i] == Self.quote {
                i = try copyQuoted(from: i + 1)
                while i < text.count, Self.isSpace(text[i]) { i += 1 }
                if i < text.count, text[i] != Self.comma, text[i] != Self.newline {
                    throw .malformedQuote(
                        file: file, line: nextLine, column: fields.count + 1,
                        reason: "text after the closing quote")
                }
            } else {
                while i < text.count, text[i] != Self.comma, text[i] != Self.newline {
                    if text[i] == Self.quote {
                        throw .malformedQuote(
                            file: file, line: nextLine, column: fields.count + 1,
                            reason: "a quote inside a field that does not start with one")
                    }
                    decoded.append(text[i])
                    i += 1
                }
            }
            fields.append(decoded.withUnsafeBufferPointer { Self.trimmed($0, start..<decoded.count) })
            guard i < text.count, text[i] == Self.comma else { break }
            i += 1
        }
        position = i + 1
        nextLine += 1
    }

    /// Copies a quoted field's content from just after its opening quote up to its closing one
    /// (`""` is one quote; line ends are kept and counted); returns the index after the closing quote.
    private mutating func copyQuoted(from first: Int) throws(DatasetError) -> Int {
        let opened = nextLine
        var i = first
        while i < text.count {
            let byte = text[i]
            if byte == Self.quote {
                guard i + 1 < text.count, text[i + 1] == Self.quote else { return i + 1 }
                i += 1
            } else if byte == Self.newline {
                nextLine += 1
            }
            decoded.append(byte)
            i += 1
        }
        throw .malformedQuote(
            file: file, line: opened, column: fields.count + 1, reason: "a quoted field is never closed")
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private static func trimmed(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var (lower, upper) = (range.lowerBound, range.upperBound)
        while lower < upper, isSpace(text[lower]) { lower += 1 }
        while upper > lower, isSpace(text[upper - 1]) { upper -= 1 }
        return lower..<upper
    }
}
