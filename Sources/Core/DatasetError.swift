/// Why a data set could not be loaded, with enough detail to fix the input by hand.
///
/// Every message is one line and names the file (and the line, column or field when one is at
/// fault), so an executable can print `description` as its whole error report.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// The file or directory does not exist.
    case missingFile(String)
    /// An `idx:` spec named something that is not a directory.
    case notADirectory(String)
    /// The file exists but could not be read; `reason` is the system's explanation.
    case readFailed(file: String, reason: String)
    /// The file ends before its header says it should.
    case truncated(file: String, expected: Int, got: Int)
    /// The file is longer than its header says it should be.
    case trailingData(file: String, expected: Int, got: Int)
    /// An IDX file does not start with the magic number of the expected kind.
    case badMagic(file: String, expected: UInt32, got: UInt32)
    /// An IDX header with a zero dimension, or dimensions whose product overflows.
    case badDimensions(file: String, dimensions: [Int])
    /// A gzip stream that zlib rejects or that ends early.
    case corruptGzip(file: String, detail: String)
    /// An IDX images file and labels file that disagree on the number of examples.
    case countMismatch(images: String, labels: String, imageCount: Int, labelCount: Int)
    /// A CSV row with a different number of columns than the first data row.
    case wrongColumnCount(file: String, line: Int, expected: Int, got: Int)
    /// A CSV row with a label but no features.
    case tooFewColumns(file: String, line: Int, got: Int)
    /// A CSV feature that is not a finite number; `column` is 1-based.
    case notANumber(file: String, line: Int, column: Int, text: String)
    /// A CSV label that is not a whole number.
    case badLabel(file: String, line: Int, text: String)
    /// A first CSV row with numbers and text: neither a header (no numbers) nor data; `column`
    /// is the first text field's, 1-based.
    case mixedFirstRow(file: String, line: Int, column: Int, text: String)
    /// A quoted CSV field that breaks RFC 4180 (never closed, text after its closing quote).
    case malformedQuote(file: String, line: Int, column: Int, reason: String)
    /// A label outside `0..<classes`; `index` is the example, `line` its CSV line when known.
    case labelOutOfRange(source: String, index: Int, line: Int?, label: Int32, classes: Int)
    /// A file with no examples.
    case empty(file: String)
    /// A `--dataset` value that is none of the accepted forms.
    case unknownSpec(String)
    /// A data set whose examples do not have the number of features the network expects.
    case featureMismatch(expected: Int, got: Int, source: String)
    /// An IDX directory without the files of the requested split.
    case missingSplit(directory: String, split: String)
    /// An IDX directory without the test split's files (`t10k-…`); the training files are never
    /// used in their place. `missing` names the absent files.
    case missingTestSplit(directory: String, missing: [String])
    /// The Debian package that provides `fashion-mnist` is not installed.
    case fashionMNISTMissing(directory: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): no such file or directory"
        case .notADirectory(let path):
            return "\(path): not a directory"
        case .readFailed(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .truncated(let file, let expected, let got):
            return "\(file): truncated: expected \(expected) bytes, got \(got)"
        case .trailingData(let file, let expected, let got):
            return "\(file): expected \(expected) bytes, got \(got) (extra data after the last item)"
        case .badMagic(let file, let expected, let got):
            return
                "\(file): not an IDX file of the expected kind: magic \(Self.hex(got)), expected \(Self.hex(expected))"
        case .badDimensions(let file, let dimensions):
            let shape = dimensions.map(String.init).joined(separator: "×")
            return "\(file): bad IDX dimensions \(shape): each must be positive and their product must fit in memory"
        case .corruptGzip(let file, let detail):
            return "\(file): corrupt gzip data: \(detail)"
        case .countMismatch(let images, let labels, let imageCount, let labelCount):
            return "\(images) holds \(imageCount) images but \(labels) holds \(labelCount) labels"
        case .wrongColumnCount(let file, let line, let expected, let got):
            return "\(file) line \(line): expected \(expected) columns, got \(got)"
        case .tooFewColumns(let file, let line, let got):
            return "\(file) line \(line): got \(got) column; expected a label and at least one feature"
        case .notANumber(let file, let line, let column, let text):
            return "\(file) line \(line) column \(column): \"\(text)\" is not a finite number"
        case .badLabel(let file, let line, let text):
            return
                "\(file) line \(line) column 1: label \"\(text)\" is not a whole number (labels are classes 0, 1, 2, …)"
        case .mixedFirstRow(let file, let line, let column, let text):
            return "\(file) line \(line) column \(column): \"\(text)\" is not a number, but other fields of this first "
                + "row are: a header has no numeric field, a data row only numbers"
        case .malformedQuote(let file, let line, let column, let reason):
            return "\(file) line \(line) column \(column): malformed quoted field: \(reason)"
        case .labelOutOfRange(let source, let index, let line, let label, let classes):
            let place = line.map { "line \($0)" } ?? "example \(index)"
            return "\(source) \(place): label \(label) is outside 0…\(classes - 1)"
        case .empty(let file):
            return "\(file): no examples"
        case .unknownSpec(let text):
            return "unknown dataset \"\(text)\": expected fashion-mnist, idx:DIR or csv:FILE"
        case .featureMismatch(let expected, let got, let source):
            return "\(source): examples have \(got) features but the network's input layer has \(expected)"
        case .missingSplit(let directory, let split):
            return "\(directory): no \(split)-images-idx3-ubyte[.gz] with \(split)-labels-idx1-ubyte[.gz], "
                + "and not exactly one *-images-idx3-ubyte[.gz] / *-labels-idx1-ubyte[.gz] pair to use instead"
        case .missingTestSplit(let directory, let missing):
            return "\(directory): no test split: \(missing.joined(separator: " and ")) missing "
                + "(the training files are not used in their place)"
        case .fashionMNISTMissing(let directory):
            return "\(directory): Fashion-MNIST not found; install it with `apt-get install dataset-fashion-mnist`"
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
