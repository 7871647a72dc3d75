#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Where a data set comes from: the value of `--dataset` and `--test-dataset`.
public enum DatasetSpec: Sendable, Equatable, CustomStringConvertible {
    /// The Debian package dataset-fashion-mnist, IDX files in `fashionMNISTDirectory`.
    case fashionMNIST
    /// A directory of IDX files, gzipped or not.
    case idx(directory: String)
    /// One CSV file: label, then features, on each row.
    case csv(file: String)

    /// Which half of a data set to load.
    public enum Split: String, Sendable {
        case train
        case test

        /// The file-name prefix MNIST-style IDX directories use for this split.
        var idxPrefix: String {
            switch self {
            case .train: return "train"
            case .test: return "t10k"
            }
        }
    }

    /// Where dataset-fashion-mnist installs its files.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Parses `fashion-mnist`, `idx:DIR` or `csv:FILE`.
    public init(parsing text: String) throws(DatasetError) {
        if text == "fashion-mnist" {
            self = .fashionMNIST
        } else if text.hasPrefix("idx:"), text.count > 4 {
            self = .idx(directory: String(text.dropFirst(4)))
        } else if text.hasPrefix("csv:"), text.count > 4 {
            self = .csv(file: String(text.dropFirst(4)))
        } else {
            throw .unknownSpec(text)
        }
    }

    /// The spec as it is written on the command line.
    public var description: String {
        switch self {
        case .fashionMNIST: return "fashion-mnist"
        case .idx(let directory): return "idx:\(directory)"
        case .csv(let file): return "csv:\(file)"
        }
    }

    /// Loads the split; a CSV file serves both splits.
    public func load(split: Split) throws(DatasetError) -> Dataset {
        switch self {
        case .fashionMNIST:
            do {
                return try Self.loadIDX(directory: Self.fashionMNISTDirectory, split: split)
            } catch .missingFile, .missingSplit, .missingTestSplit {
                throw .fashionMNISTMissing(directory: Self.fashionMNISTDirectory)
            }
        case .idx(let directory):
            return try Self.loadIDX(directory: directory, split: split)
        case .csv(let file):
            return try CSVLoader.load(file)
        }
    }

    /// Loads `<prefix>-images-idx3-ubyte[.gz]` with `<prefix>-labels-idx1-ubyte[.gz]` from
    /// `directory`. For the train split only, a directory that holds exactly one images file
    /// and its labels, whatever their prefix, serves that pair; the test split is the `t10k-`
    /// files or an error naming them, never the training files under another name.
    static func loadIDX(directory: String, split: Split) throws(DatasetError) -> Dataset {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw .missingFile(directory)
        }
        guard isDirectory else { throw .notADirectory(directory) }

        let path = { (name: String) in PathName.join(directory, name) }
        if let images = existing(path("\(split.idxPrefix)-images-idx3-ubyte")) {
            guard let labels = existing(path("\(split.idxPrefix)-labels-idx1-ubyte")) else {
                throw .missingFile(path("\(split.idxPrefix)-labels-idx1-ubyte[.gz]"))
            }
            return try IDXLoader.load(images: images, labels: labels)
        }
        if split == .test {
            let names = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
            throw .missingTestSplit(
                directory: directory, missing: names.filter { existing(path($0)) == nil }.map { $0 + "[.gz]" })
        }

        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let imageStems = Set(
            names.compactMap { name in
                ["-images-idx3-ubyte", "-images-idx3-ubyte.gz"]
                    .first { name.hasSuffix($0) }
                    .map { String(name.dropLast($0.count)) }
            })
        guard imageStems.count == 1, let stem = imageStems.first,
            let images = existing(path("\(stem)-images-idx3-ubyte")),
            let labels = existing(path("\(stem)-labels-idx1-ubyte"))
        else {
            throw .missingSplit(directory: directory, split: split.idxPrefix)
        }
        return try IDXLoader.load(images: images, labels: labels)
    }

    /// `base` if it exists, else `base.gz` if that exists; the uncompressed file loads faster.
    private static func existing(_ base: String) -> String? {
        [base, base + ".gz"].first { FileManager.default.fileExists(atPath: $0) }
    }
}
