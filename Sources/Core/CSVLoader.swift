/// Loads a CSV data set: the integer label in the first column, the features in the rest.
///
/// Features are used as given (no scaling). A first row whose label field is not a number is a
/// header and is skipped; blank lines are skipped; `\n` and `\r\n` line ends are both accepted,
/// as are a UTF-8 byte-order mark and spaces or tabs around a field. Every data row must have
/// the column count of the first. Errors name the file and 1-based line (and column).
public enum CSVLoader {
    /// Loads the CSV file at `path`.
    public static func load(_ path: String) throws(DatasetError) -> Dataset {
        try parse(Dataset.readFile(path), file: path)
    }

    /// Parses CSV bytes; `file` names the source in the data set and in errors.
    static func parse(_ bytes: [UInt8], file: String) throws(DatasetError) -> Dataset {
        var rows = Rows(file: file)
        try bytes.withUnsafeBufferPointer { (text) throws(DatasetError) in
            let byteOrderMark: [UInt8] = [0xef, 0xbb, 0xbf]
            var lineStart = text.starts(with: byteOrderMark) ? 3 : 0
            var lineNumber = 0
            var fields: [Range<Int>] = []
            while lineStart < text.count {
                lineNumber += 1
                let newline = text[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? text.count
                var lineEnd = newline
                if lineEnd > lineStart, text[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                splitFields(text, lineStart..<lineEnd, into: &fields)
                lineStart = newline + 1
                let isBlank = fields.count == 1 && fields[0].isEmpty
                if !isBlank {
                    try rows.add(fields, of: text, line: lineNumber)
                }
            }
        }
        return try rows.dataset()
    }

    /// The trimmed byte range of each comma-separated field of `line`.
    private static func splitFields(
        _ text: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, into fields: inout [Range<Int>]
    ) {
        fields.removeAll(keepingCapacity: true)
        var start = line.lowerBound
        for i in line where text[i] == UInt8(ascii: ",") {
            fields.append(trimmed(text, start..<i))
            start = i + 1
        }
        fields.append(trimmed(text, start..<line.upperBound))
    }

    private static func trimmed(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var (lower, upper) = (range.lowerBound, range.upperBound)
        while lower < upper, text[lower] == UInt8(ascii: " ") || text[lower] == UInt8(ascii: "\t") { lower += 1 }
        while upper > lower, text[upper - 1] == UInt8(ascii: " ") || text[upper - 1] == UInt8(ascii: "\t") {
            upper -= 1
        }
        return lower..<upper
    }

    /// The examples parsed so far, and the column count they must all share.
    private struct Rows {
        let file: String
        var columns: Int?
        var sawFirstRow = false
        var features: [Float] = []
        var labels: [Int32] = []
        var lineNumbers: [Int] = []

        init(file: String) { self.file = file }

        mutating func add(_ fields: [Range<Int>], of text: UnsafeBufferPointer<UInt8>, line: Int) throws(DatasetError) {
            let isFirstRow = !sawFirstRow
            sawFirstRow = true
            if isFirstRow, CSVLoader.number(text, fields[0]) == nil { return }

            if let columns {
                guard fields.count == columns else {
                    throw .wrongColumnCount(file: file, line: line, expected: columns, got: fields.count)
                }
            } else {
                guard fields.count >= 2 else { throw .tooFewColumns(file: file, line: line, got: fields.count) }
                columns = fields.count
            }
            guard let label = CSVLoader.integer(text, fields[0]) else {
                throw .badLabel(file: file, line: line, text: CSVLoader.string(text, fields[0]))
            }
            for (index, field) in fields.enumerated().dropFirst() {
                guard let value = CSVLoader.number(text, field) else {
                    throw .notANumber(file: file, line: line, column: index + 1, text: CSVLoader.string(text, field))
                }
                features.append(value)
            }
            labels.append(label)
            lineNumbers.append(line)
        }

        func dataset() throws(DatasetError) -> Dataset {
            guard let columns, !labels.isEmpty else { throw .empty(file: file) }
            let matrix = Matrix(rows: columns - 1, cols: labels.count)
            features.withUnsafeBufferPointer { matrix.storage.update(from: $0.baseAddress!, count: $0.count) }
            return Dataset(features: matrix, labels: labels, source: file, lineNumbers: lineNumbers)
        }
    }

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

    /// An integer that fits in Int32, with an optional sign.
    static func integer(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> Int32? {
        Int32(string(text, field))
    }

    private static func string(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: text[field]), as: UTF8.self)
    }
}
