#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Labelled examples held in memory, ready to be cut into shards.
///
/// `features` is (n0, m) with one column per example, so example j is the n0 contiguous floats
/// at `features.storage + j * n0` and a shard of consecutive examples is one contiguous block.
public struct Dataset: Sendable {
    /// (n0, m): n0 features for each of the m examples.
    public let features: Matrix
    /// m class indices, one per example.
    public let labels: [Int32]
    /// Where the examples came from (a path), for messages.
    public let source: String
    /// The 1-based source line of each example when the source is a text file, for messages.
    public let lineNumbers: [Int]?
    /// The CSV line taken as a header and skipped, if any, for a note to the user.
    public let headerLine: Int?

    /// m, the number of examples.
    public var count: Int { labels.count }
    /// n0, the number of features of each example.
    public var featureCount: Int { features.rows }

    public init(
        features: Matrix, labels: [Int32], source: String, lineNumbers: [Int]? = nil, headerLine: Int? = nil
    ) {
        precondition(features.cols == labels.count, "\(features.cols) examples but \(labels.count) labels")
        precondition(lineNumbers == nil || lineNumbers?.count == labels.count, "one line number per example")
        self.features = features
        self.labels = labels
        self.source = source
        self.lineNumbers = lineNumbers
        self.headerLine = headerLine
    }

    /// Checks that every label is a class index in `0..<classes`.
    ///
    /// The caller passes nL for a softmax output (nL ≥ 2) and 2 for a sigmoid output (nL = 1),
    /// whose labels must be 0 or 1. The first offending example is reported, by line for CSV.
    public func validateLabels(classes: Int) throws(DatasetError) {
        precondition(classes >= 2, "a classifier has at least two classes")
        for (index, label) in labels.enumerated() where label < 0 || Int(label) >= classes {
            throw .labelOutOfRange(
                source: source, index: index, line: lineNumbers?[index], label: label, classes: classes)
        }
    }

    /// Checks that examples have the `expected` number of features, n0 of the network.
    public func validateFeatureCount(_ expected: Int) throws(DatasetError) {
        guard featureCount == expected else {
            throw .featureMismatch(expected: expected, got: featureCount, source: source)
        }
    }

    /// The bytes of the file at `path`, with a missing file told apart from an unreadable one.
    static func readFile(_ path: String) throws(DatasetError) -> [UInt8] {
        do {
            return try AtomicFile.read(path)
        } catch {
            if error.errno == ENOENT { throw .missingFile(path) }
            throw .readFailed(file: path, reason: String(cString: strerror(error.errno)))
        }
    }
}
