import Testing

@testable import Core

/// CSV as users write it: a header recognised by its whole row, whole-number labels written as
/// decimals, RFC 4180 quotes, CRLF, and rows with no label for `predict`.
@Suite struct CSVTests {
    func parse(_ text: String) throws(DatasetError) -> Dataset {
        try CSVLoader.parse(Array(text.utf8), file: "t.csv")
    }

    func table(_ text: String) throws(DatasetError) -> CSVTable {
        try CSVLoader.parseTable(Array(text.utf8), file: "t.csv")
    }

    // MARK: Headers

    @Test func aFirstRowWithNoNumberIsAHeader() throws {
        let data = try parse("label,pixel1,pixel2\n3,0,255\n")
        #expect(data.headerLine == 1)
        #expect(data.labels == [3])
        #expect(data.features.columnMajorValues == [0, 255])
        // An empty field (pandas' index column) is text too.
        #expect(try parse(",a,b\n1,2,3\n").headerLine == 1)
        // Blank lines before it: the header is the first row, on its own line.
        #expect(try parse("\n\ny,a\n0,1\n").headerLine == 3)
    }

    @Test func aFirstRowOfNumbersIsData() throws {
        let data = try parse("1,0.5,2\n0,1,1\n")
        #expect(data.headerLine == nil)
        #expect(data.labels == [1, 0])
        let unlabelled = try table("0.5,2\n1,1\n")
        #expect(unlabelled.headerLine == nil && unlabelled.count == 2 && unlabelled.columnCount == 2)
    }

    /// A row of some numbers and some text is neither: it used to be taken as a header when its
    /// first field was text, and so silently dropped a row.
    @Test func aMixedFirstRowIsAnErrorNamingLineOneAndTheField() throws {
        #expect(throws: DatasetError.mixedFirstRow(file: "t.csv", line: 1, column: 1, text: "label")) {
            try parse("label,0.5,2\n0,1,1\n")
        }
        #expect(throws: DatasetError.mixedFirstRow(file: "t.csv", line: 1, column: 3, text: "x")) {
            try table("0.5,2,x\n1,1,1\n")
        }
        let message = DatasetError.mixedFirstRow(file: "t.csv", line: 1, column: 3, text: "x").description
        #expect(message.contains("t.csv line 1 column 3") && message.contains("\"x\""))
    }

    // MARK: Labels

    @Test func labelsWrittenAsWholeDecimalsAreAccepted() throws {
        let data = try parse("1.0,0.5\n2.00,1\n+3,1\n0e0,1\n-0.0,1\n")
        #expect(data.labels == [1, 2, 3, 0, 0])
    }

    @Test func labelsWithAFractionAreRefusedNamingLineAndField() throws {
        #expect(throws: DatasetError.badLabel(file: "t.csv", line: 2, text: "1.5")) { try parse("1,2\n1.5,1\n") }
        #expect(throws: DatasetError.badLabel(file: "t.csv", line: 1, text: "3000000000")) {
            try parse("3000000000,1\n")
        }
        #expect(DatasetError.badLabel(file: "t.csv", line: 2, text: "1.5").description.contains("line 2 column 1"))
    }

    // MARK: RFC 4180

    @Test func quotedFieldsAreUnquoted() throws {
        let data = try parse("\"label\",\"a\",\"b, with a comma\"\r\n\"1\",\"0.5\", \"2\" \r\n0,\"-1e1\",3\r\n")
        #expect(data.headerLine == 1)
        #expect(data.labels == [1, 0])
        #expect(data.features.columnMajorValues == [0.5, 2, -10, 3])
        #expect(data.lineNumbers == [2, 3])
    }

    @Test func aQuotedHeaderFieldMayHoldQuotesAndLineEnds() throws {
        let data = try parse("\"the \"\"label\"\"\",\"a\nb\"\n1,2\n0,3\n")
        #expect(data.headerLine == 1)
        #expect(data.labels == [1, 0])
        // The header spans lines 1–2, so the rows are on lines 3 and 4.
        #expect(data.lineNumbers == [3, 4])
        #expect(throws: DatasetError.notANumber(file: "t.csv", line: 2, column: 2, text: "a\"b")) {
            try parse("1,2\n0,\"a\"\"b\"\n")
        }
    }

    @Test func malformedQuotesAreErrorsNamingLineAndColumn() throws {
        #expect(
            throws: DatasetError.malformedQuote(
                file: "t.csv", line: 2, column: 2, reason: "a quoted field is never closed")
        ) {
            try parse("1,2\n0,\"3\n")
        }
        #expect(
            throws: DatasetError.malformedQuote(
                file: "t.csv", line: 1, column: 1, reason: "text after the closing quote")
        ) {
            try parse("\"1\"x,2\n")
        }
        #expect(
            throws: DatasetError.malformedQuote(
                file: "t.csv", line: 1, column: 2, reason: "a quote inside a field that does not start with one")
        ) {
            try parse("1,2\"\n")
        }
    }

    @Test func crlfAndAByteOrderMarkAndNoFinalNewline() throws {
        let data = try CSVLoader.parse([0xef, 0xbb, 0xbf] + Array("y,x\r\n1,2\r\n\r\n0,3".utf8), file: "t.csv")
        #expect(data.labels == [1, 0])
        #expect(data.features.columnMajorValues == [2, 3])
        #expect(data.lineNumbers == [2, 4])
    }

    // MARK: Tables

    @Test func aTableKeepsEveryColumnAndCanDropTheFirst() throws {
        let rows = try table("a,b,c\n1,2,3\n4,5,6\n")
        #expect(rows.headerLine == 1 && rows.lineNumbers == [2, 3])
        #expect(rows.features.columnMajorValues == [1, 2, 3, 4, 5, 6])
        let features = rows.droppingFirstColumn()
        #expect(features.rows == 2 && features.cols == 2)
        #expect(features.columnMajorValues == [2, 3, 5, 6])
        #expect(throws: DatasetError.wrongColumnCount(file: "t.csv", line: 3, expected: 3, got: 2)) {
            try table("1,2,3\n\n4,5\n")
        }
        #expect(throws: DatasetError.empty(file: "t.csv")) { try table("a,b\n") }
    }
}
