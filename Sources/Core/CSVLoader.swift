/// Loads a CSV data set: the label in the first column, the features in the rest — or, for
/// `predict`, rows of numbers with or without a label (`loadTable`).
///
/// Features are used as given (no scaling). Fields follow RFC 4180: a field may be quoted
/// (`"0.5"`, with `""` for a quote inside), records end in `\n` or `\r\n`; a UTF-8 byte-order
/// mark, blank lines and spaces or tabs around a field are accepted.
///
/// The first row is a header when none of its fields is a number, and is then skipped
/// (`headerLine` says so); a first row that mixes numbers and text is an error naming its first
/// text field, since it is neither a header nor data. A label is a whole number (`3`, `3.0`).
/// Every row must have the first row's column count. Errors name the file and the 1-based line
/// (and column).
public enum CSVLoader {
    /// Loads the labelled CSV file at `path`.
    public static func load(_ path: String) throws(DatasetError) -> Dataset {
        try parse(Dataset.readFile(path), file: path)
    }

    /// Loads the CSV file at `path` as rows of numbers, every column a feature.
    public static func loadTable(_ path: String) throws(DatasetError) -> CSVTable {
        try parseTable(Dataset.readFile(path), file: path)
    }

    /// Parses labelled CSV bytes; `file` names the source in the data set and in errors.
    static func parse(_ bytes: [UInt8], file: String) throws(DatasetError) -> Dataset {
        let rows = try read(bytes, file: file, labelled: true)
        let table = try rows.table()
        return Dataset(
            features: table.features, labels: rows.labels, source: file, lineNumbers: rows.lineNumbers,
            headerLine: rows.headerLine)
    }

    /// Parses CSV bytes with no label column.
    static func parseTable(_ bytes: [UInt8], file: String) throws(DatasetError) -> CSVTable {
        try read(bytes, file: file, labelled: false).table()
    }

    private static func read(_ bytes: [UInt8], file: String, labelled: Bool) throws(DatasetError) -> Rows {
        var rows = Rows(file: file, labelled: labelled)
        try bytes.withUnsafeBufferPointer { (text) throws(DatasetError) in
            var records = CSVRecords(text, file: file)
            while try records.next() {
                if records.isBlank { continue }
                if records.isDecoded {
                    let (fields, line) = (records.fields, records.line)
                    try records.decoded.withUnsafeBufferPointer { (decoded) throws(DatasetError) in
                        try rows.add(fields, of: decoded, line: line)
                    }
                } else {
                    try rows.add(records.fields, of: text, line: records.line)
                }
            }
        }
        return rows
    }

    /// The examples parsed so far, and the column count they must all share.
    private struct Rows {
        let file: String
        let labelled: Bool
        var columns: Int?
        var sawFirstRow = false
        var headerLine: Int?
        var features: [Float] = []
        var labels: [Int32] = []
        var lineNumbers: [Int] = []

        init(file: String, labelled: Bool) {
            self.file = file
            self.labelled = labelled
        }

        mutating func add(_ fields: [Range<Int>], of text: UnsafeBufferPointer<UInt8>, line: Int) throws(DatasetError) {
            if !sawFirstRow {
                sawFirstRow = true
                if try isHeader(fields, of: text, line: line) {
                    headerLine = line
                    return
                }
            }
            if let columns {
                guard fields.count == columns else {
                    throw .wrongColumnCount(file: file, line: line, expected: columns, got: fields.count)
                }
            } else {
                guard fields.count >= (labelled ? 2 : 1) else {
                    throw .tooFewColumns(file: file, line: line, got: fields.count)
                }
                columns = fields.count
            }
            var first = 0
            if labelled {
                guard let label = CSVNumbers.label(text, fields[0]) else {
                    throw .badLabel(file: file, line: line, text: CSVNumbers.string(text, fields[0]))
                }
                labels.append(label)
                first = 1
            }
            for index in first..<fields.count {
                guard let value = CSVNumbers.number(text, fields[index]) else {
                    throw .notANumber(
                        file: file, line: line, column: index + 1, text: CSVNumbers.string(text, fields[index]))
                }
                features.append(value)
            }
            lineNumbers.append(line)
        }

        /// Whether the first row is a header: no field is a number. Some numbers and some text
        /// is neither a header nor data.
        private func isHeader(_ fields: [Range<Int>], of text: UnsafeBufferPointer<UInt8>, line: Int)
            throws(DatasetError) -> Bool
        {
            let numeric = fields.map { CSVNumbers.number(text, $0) != nil }
            if !numeric.contains(true) { return true }
            if let word = numeric.firstIndex(of: false) {
                throw .mixedFirstRow(
                    file: file, line: line, column: word + 1, text: CSVNumbers.string(text, fields[word]))
            }
            return false
        }

        func table() throws(DatasetError) -> CSVTable {
            guard let columns, !lineNumbers.isEmpty else { throw .empty(file: file) }
            let matrix = Matrix(rows: columns - (labelled ? 1 : 0), cols: lineNumbers.count)
            features.withUnsafeBufferPointer { matrix.storage.update(from: $0.baseAddress!, count: $0.count) }
            return CSVTable(features: matrix, source: file, lineNumbers: lineNumbers, headerLine: headerLine)
        }
    }

    /// A finite number (see `CSVNumbers.number`).
    static func number(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> Float? {
        CSVNumbers.number(text, field)
    }
}

/// Rows of numbers read from a CSV file with no label column: what `predict` reads before it
/// knows whether the first column is a label.
public struct CSVTable: Sendable {
    /// (columns, rows): one column of the matrix per row of the file.
    public let features: Matrix
    public let source: String
    /// The 1-based file line of each row.
    public let lineNumbers: [Int]
    /// The line taken as a header and skipped, if any.
    public let headerLine: Int?

    public var count: Int { lineNumbers.count }
    public var columnCount: Int { features.rows }

    /// The table without its first column: the features of rows whose first column is a label.
    public func droppingFirstColumn() -> Matrix {
        precondition(columnCount >= 2, "a label and at least one feature")
        let n = columnCount - 1
        let result = Matrix(rows: n, cols: count)
        for j in 0..<count {
            (result.storage + j * n).update(from: features.storage + j * columnCount + 1, count: n)
        }
        return result
    }
}
