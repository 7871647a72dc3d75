import CZlib
import Foundation
import Testing

@testable import Core

/// A fresh directory for one test's fixtures, removed when the test ends.
private final class Fixtures {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "descent-dataset-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { directory + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    /// `bytes` as a gzip stream, made by zlib's own gzip writer.
    func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
        let scratch = path("scratch-\(UUID().uuidString).gz")
        let file = try #require(gzopen(scratch, "wb"))
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        #expect(Int(written) == bytes.count)
        #expect(gzclose(file) == Z_OK)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try Array(Data(contentsOf: URL(fileURLWithPath: scratch)))
    }
}

/// An IDX file: big-endian magic and dimensions, then the bytes.
private func idx(magic: UInt32, dimensions: [Int], payload: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    for word in [magic] + dimensions.map(UInt32.init) {
        bytes += [UInt8(word >> 24), UInt8(word >> 16 & 0xff), UInt8(word >> 8 & 0xff), UInt8(word & 0xff)]
    }
    return bytes + payload
}

/// Three 2×3 images whose pixel k of image j is `pixel(j, k)`, and their labels 7, 0, 9.
private let imagePixels: [UInt8] = (0..<3).flatMap { j in (0..<6).map { k in pixel(j, k) } }
private let sampleImages = idx(magic: 0x0803, dimensions: [3, 2, 3], payload: imagePixels)
private let sampleLabels = idx(magic: 0x0801, dimensions: [3], payload: [7, 0, 9])
private func pixel(_ j: Int, _ k: Int) -> UInt8 { [0, 255, 128, 1, 37, 200][(j + k) % 6] }

private func checkSample(_ data: Dataset) {
    #expect(data.featureCount == 6)
    #expect(data.count == 3)
    #expect(data.labels == [7, 0, 9])
    for j in 0..<3 {
        for k in 0..<6 {
            #expect(data.features[k, j] == Float(pixel(j, k)) / 255)
            #expect(data.features.storage[j * 6 + k] == data.features[k, j])
        }
    }
}

@Suite struct DatasetTests {
    // MARK: IDX

    @Test func rawIDXPairLoadsScaledColumnPerExample() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("a-images-idx3-ubyte", sampleImages)
        let labels = try fixtures.write("a-labels-idx1-ubyte", sampleLabels)
        let data = try IDXLoader.load(images: images, labels: labels)
        checkSample(data)
        #expect(data.features[1, 0] == 1)
        #expect(data.features[0, 0] == 0)
        #expect(data.source == images)
        #expect(data.lineNumbers == nil)
    }

    @Test func gzippedIDXIsDetectedByMagicNotName() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("b-images-idx3-ubyte", fixtures.gzipped(sampleImages))
        let labels = try fixtures.write("b-labels-idx1-ubyte.gz", fixtures.gzipped(sampleLabels))
        checkSample(try IDXLoader.load(images: images, labels: labels))
    }

    @Test func concatenatedGzipMembersAreOneStream() throws {
        let fixtures = try Fixtures()
        let half = sampleImages.count / 2
        let twoMembers =
            try fixtures.gzipped(Array(sampleImages[..<half])) + fixtures.gzipped(Array(sampleImages[half...]))
        let images = try fixtures.write("c-images-idx3-ubyte.gz", twoMembers)
        let labels = try fixtures.write("c-labels-idx1-ubyte", sampleLabels)
        checkSample(try IDXLoader.load(images: images, labels: labels))
    }

    @Test func missingIDXFileIsNamed() throws {
        let fixtures = try Fixtures()
        let labels = try fixtures.write("labels", sampleLabels)
        #expect(throws: DatasetError.missingFile(fixtures.path("nope"))) {
            try IDXLoader.load(images: fixtures.path("nope"), labels: labels)
        }
    }

    @Test func truncatedImagesReportExpectedAndGotBytes() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("images", Array(sampleImages.dropLast(5)))
        let labels = try fixtures.write("labels", sampleLabels)
        #expect(throws: DatasetError.truncated(file: images, expected: 16 + 18, got: 16 + 13)) {
            try IDXLoader.load(images: images, labels: labels)
        }
        let header = try fixtures.write("header", Array(sampleImages.prefix(10)))
        #expect(throws: DatasetError.truncated(file: header, expected: 16, got: 10)) {
            try IDXLoader.load(images: header, labels: labels)
        }
    }

    @Test func extraBytesAfterTheImagesAreAnError() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("images", sampleImages + [0])
        let labels = try fixtures.write("labels", sampleLabels)
        #expect(throws: DatasetError.trailingData(file: images, expected: 34, got: 35)) {
            try IDXLoader.load(images: images, labels: labels)
        }
    }

    @Test func swappedFilesFailOnMagic() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("images", sampleImages)
        let labels = try fixtures.write("labels", sampleLabels)
        #expect(throws: DatasetError.badMagic(file: labels, expected: 0x0803, got: 0x0801)) {
            try IDXLoader.load(images: labels, labels: labels)
        }
        #expect(throws: DatasetError.badMagic(file: images, expected: 0x0801, got: 0x0803)) {
            try IDXLoader.load(images: images, labels: images)
        }
    }

    @Test func zeroDimensionIsRejected() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("images", idx(magic: 0x0803, dimensions: [0, 28, 28], payload: []))
        let labels = try fixtures.write("labels", idx(magic: 0x0801, dimensions: [0], payload: []))
        #expect(throws: DatasetError.badDimensions(file: labels, dimensions: [0])) {
            try IDXLoader.load(images: images, labels: labels)
        }
    }

    @Test func corruptAndTruncatedGzipNameTheFile() throws {
        let fixtures = try Fixtures()
        let labels = try fixtures.write("labels", sampleLabels)
        let big = idx(
            magic: 0x0803, dimensions: [50, 28, 28],
            payload: (0..<(50 * 784)).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })
        let compressed = try fixtures.gzipped(big)

        var damaged = compressed
        for i in 20..<60 { damaged[i] ^= 0x5a }
        let corrupt = try fixtures.write("corrupt", damaged)
        let corruptError = #expect(throws: DatasetError.self) { try IDXLoader.load(images: corrupt, labels: labels) }
        guard case .corruptGzip(let file, _) = corruptError else {
            Issue.record("expected corruptGzip, got \(String(describing: corruptError))")
            return
        }
        #expect(file == corrupt)

        let truncated = try fixtures.write("truncated", Array(compressed.prefix(compressed.count / 2)))
        let truncatedError = #expect(throws: DatasetError.self) {
            try IDXLoader.load(images: truncated, labels: labels)
        }
        guard case .corruptGzip(let file, let detail) = truncatedError else {
            Issue.record("expected corruptGzip, got \(String(describing: truncatedError))")
            return
        }
        #expect(file == truncated)
        #expect(detail.contains("ends early"))

        let garbage = try fixtures.write("garbage", compressed + [1, 2, 3])
        #expect(
            throws: DatasetError.corruptGzip(file: garbage, detail: "unexpected bytes after the end of the gzip stream")
        ) {
            try IDXLoader.load(images: garbage, labels: labels)
        }
    }

    @Test func imageAndLabelCountsMustAgree() throws {
        let fixtures = try Fixtures()
        let images = try fixtures.write("images", sampleImages)
        let labels = try fixtures.write("labels", idx(magic: 0x0801, dimensions: [2], payload: [1, 2]))
        #expect(throws: DatasetError.countMismatch(images: images, labels: labels, imageCount: 3, labelCount: 2)) {
            try IDXLoader.load(images: images, labels: labels)
        }
    }

    // MARK: Specs

    @Test func specParsesTheThreeFormsAndRejectsOthers() throws {
        #expect(try DatasetSpec(parsing: "fashion-mnist") == .fashionMNIST)
        #expect(try DatasetSpec(parsing: "idx:/data/mnist") == .idx(directory: "/data/mnist"))
        #expect(try DatasetSpec(parsing: "csv:a:b.csv") == .csv(file: "a:b.csv"))
        #expect(DatasetSpec.idx(directory: "/d").description == "idx:/d")
        for bad in ["mnist", "idx:", "csv:", "CSV:x", ""] {
            #expect(throws: DatasetError.unknownSpec(bad)) { try DatasetSpec(parsing: bad) }
        }
        #expect(DatasetError.unknownSpec("x").description.contains("fashion-mnist, idx:DIR or csv:FILE"))
    }

    @Test func idxDirectoryPicksTheSplitsFiles() throws {
        let fixtures = try Fixtures()
        try fixtures.write("train-images-idx3-ubyte.gz", fixtures.gzipped(sampleImages))
        try fixtures.write("train-labels-idx1-ubyte", sampleLabels)
        try fixtures.write(
            "t10k-images-idx3-ubyte", idx(magic: 0x0803, dimensions: [1, 2, 3], payload: [9, 9, 9, 9, 9, 9]))
        try fixtures.write("t10k-labels-idx1-ubyte", idx(magic: 0x0801, dimensions: [1], payload: [4]))
        let spec = DatasetSpec.idx(directory: fixtures.directory)
        checkSample(try spec.load(split: .train))
        let test = try spec.load(split: .test)
        #expect(test.labels == [4])
        #expect(test.source == fixtures.path("t10k-images-idx3-ubyte"))
    }

    /// A lone pair under another name serves the train split; the test split is the t10k-
    /// files or an error naming them, never the training files under the test split's name.
    @Test func aSinglePairServesTheTrainSplitOnly() throws {
        let fixtures = try Fixtures()
        try fixtures.write("digits-images-idx3-ubyte", sampleImages)
        try fixtures.write("digits-labels-idx1-ubyte.gz", fixtures.gzipped(sampleLabels))
        let spec = DatasetSpec.idx(directory: fixtures.directory)
        checkSample(try spec.load(split: .train))
        let missing = ["t10k-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]"]
        #expect(throws: DatasetError.missingTestSplit(directory: fixtures.directory, missing: missing)) {
            try spec.load(split: .test)
        }
        let message = DatasetError.missingTestSplit(directory: fixtures.directory, missing: missing).description
        #expect(message.contains(fixtures.directory) && message.contains("t10k-images-idx3-ubyte[.gz]"))
    }

    @Test func aTrainOnlyDirectoryHasNoTestSplit() throws {
        let fixtures = try Fixtures()
        try fixtures.write("train-images-idx3-ubyte", sampleImages)
        try fixtures.write("train-labels-idx1-ubyte", sampleLabels)
        try fixtures.write("t10k-labels-idx1-ubyte", sampleLabels)
        let spec = DatasetSpec.idx(directory: fixtures.directory)
        checkSample(try spec.load(split: .train))
        #expect(
            throws: DatasetError.missingTestSplit(
                directory: fixtures.directory, missing: ["t10k-images-idx3-ubyte[.gz]"])
        ) {
            try spec.load(split: .test)
        }
    }

    @Test func idxDirectoryErrors() throws {
        let fixtures = try Fixtures()
        try fixtures.write("a-images-idx3-ubyte", sampleImages)
        try fixtures.write("a-labels-idx1-ubyte", sampleLabels)
        try fixtures.write("b-images-idx3-ubyte", sampleImages)
        try fixtures.write("b-labels-idx1-ubyte", sampleLabels)
        #expect(throws: DatasetError.missingSplit(directory: fixtures.directory, split: "train")) {
            try DatasetSpec.idx(directory: fixtures.directory).load(split: .train)
        }
        try fixtures.write("t10k-images-idx3-ubyte", sampleImages)
        #expect(throws: DatasetError.missingFile(fixtures.path("t10k-labels-idx1-ubyte[.gz]"))) {
            try DatasetSpec.idx(directory: fixtures.directory).load(split: .test)
        }
        #expect(throws: DatasetError.notADirectory(fixtures.path("a-images-idx3-ubyte"))) {
            try DatasetSpec.idx(directory: fixtures.path("a-images-idx3-ubyte")).load(split: .train)
        }
        #expect(throws: DatasetError.missingFile(fixtures.path("none"))) {
            try DatasetSpec.idx(directory: fixtures.path("none")).load(split: .train)
        }
        #expect(
            DatasetError.fashionMNISTMissing(directory: "/x").description.contains(
                "apt-get install dataset-fashion-mnist"))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: DatasetSpec.fashionMNISTDirectory)))
    func fashionMNISTLoadsBothSplits() throws {
        let train = try DatasetSpec.fashionMNIST.load(split: .train)
        let test = try DatasetSpec.fashionMNIST.load(split: .test)
        #expect(train.count == 60_000 && train.featureCount == 784)
        #expect(test.count == 10_000 && test.featureCount == 784)
        for data in [train, test] {
            #expect(Set(data.labels) == Set(0...9))
            try data.validateLabels(classes: 10)
            let pixels = UnsafeBufferPointer(start: data.features.storage, count: data.features.count)
            #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
            #expect(pixels.contains(1))
        }
    }

    // MARK: CSV

    @Test func csvSkipsHeaderAndBlankLinesAndAcceptsCRLF() throws {
        let fixtures = try Fixtures()
        let file = try fixtures.write("d.csv", text: "label,x,y\r\n1,0.5,-2\r\n0, 3e2 ,7\r\n\r\n1,1000,0.25\r\n\r\n")
        let data = try CSVLoader.load(file)
        #expect(data.labels == [1, 0, 1])
        #expect(data.featureCount == 2)
        #expect(data.features.columnMajorValues == [0.5, -2, 300, 7, 1000, 0.25])
        #expect(data.lineNumbers == [2, 3, 5])
        #expect(data.headerLine == 1)
        #expect(try DatasetSpec(parsing: "csv:" + file).load(split: .test).labels == [1, 0, 1])
    }

    @Test func csvWithoutHeaderKeepsFirstRow() throws {
        let fixtures = try Fixtures()
        let data = try CSVLoader.load(try fixtures.write("e.csv", text: "2,1,2,3\n1,4,5,6"))
        #expect(data.labels == [2, 1])
        #expect(data.features.columnMajorValues == [1, 2, 3, 4, 5, 6])
        #expect(data.lineNumbers == [1, 2])
        #expect(data.headerLine == nil)
    }

    @Test func csvErrorsNameLineAndColumn() throws {
        let fixtures = try Fixtures()
        let columns = try fixtures.write("f.csv", text: "label,a,b\n1,2,3\n0,1\n")
        #expect(throws: DatasetError.wrongColumnCount(file: columns, line: 3, expected: 3, got: 2)) {
            try CSVLoader.load(columns)
        }
        let number = try fixtures.write("g.csv", text: "1,2,3\r\n0,1,abc\r\n")
        #expect(throws: DatasetError.notANumber(file: number, line: 2, column: 3, text: "abc")) {
            try CSVLoader.load(number)
        }
        let infinite = try fixtures.write("h.csv", text: "1,2,3\n0,nan,1\n")
        #expect(throws: DatasetError.notANumber(file: infinite, line: 2, column: 2, text: "nan")) {
            try CSVLoader.load(infinite)
        }
        let label = try fixtures.write("i.csv", text: "1,2,3\n1.5,1,1\n")
        #expect(throws: DatasetError.badLabel(file: label, line: 2, text: "1.5")) {
            try CSVLoader.load(label)
        }
        let headerOnly = try fixtures.write("j.csv", text: "label,a\n\n")
        #expect(throws: DatasetError.empty(file: headerOnly)) { try CSVLoader.load(headerOnly) }
        let labelsOnly = try fixtures.write("k.csv", text: "1\n0\n")
        #expect(throws: DatasetError.tooFewColumns(file: labelsOnly, line: 1, got: 1)) {
            try CSVLoader.load(labelsOnly)
        }
        #expect(throws: DatasetError.missingFile(fixtures.path("l.csv"))) { try CSVLoader.load(fixtures.path("l.csv")) }
    }

    @Test func fastNumberParserAgreesWithFloatInit() {
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "0", "-0", "+1", "007", ".5", "5.", "123456789012345", "0.00000001", "3.4028235e38",
            "1e-50", "16777217", "0.1", "-2.5", "1234567.891", "99999999999999999999", "0x10",
        ]
        for _ in 0..<20_000 {
            let whole = Int.random(in: 0..<1_000_000, using: &generator)
            let fraction = String(Int.random(in: 0..<100_000_000, using: &generator))
            texts.append("\(whole).\(fraction.prefix(Int.random(in: 1...8, using: &generator)))")
        }
        for text in texts {
            let bytes = Array(text.utf8)
            let fast = bytes.withUnsafeBufferPointer { CSVLoader.number($0, 0..<$0.count) }
            let reference = Float(text).flatMap { $0.isFinite ? $0 : nil }
            #expect(fast?.bitPattern == reference?.bitPattern, "\(text)")
        }
    }

    // MARK: Validation

    @Test func labelsOutOfRangeNameTheLineOrExample() throws {
        let fixtures = try Fixtures()
        let file = try fixtures.write("m.csv", text: "y,x\n0,1\n1,2\n\n2,3\n")
        let data = try CSVLoader.load(file)
        try data.validateLabels(classes: 3)
        #expect(throws: DatasetError.labelOutOfRange(source: file, index: 2, line: 5, label: 2, classes: 2)) {
            try data.validateLabels(classes: 2)
        }
        #expect(
            DatasetError.labelOutOfRange(source: file, index: 2, line: 5, label: 2, classes: 2).description
                == "\(file) line 5: label 2 is outside 0…1")

        let idxData = Dataset(features: Matrix(rows: 1, cols: 2), labels: [0, -1], source: "x")
        #expect(throws: DatasetError.labelOutOfRange(source: "x", index: 1, line: nil, label: -1, classes: 10)) {
            try idxData.validateLabels(classes: 10)
        }
        try idxData.validateFeatureCount(1)
        #expect(throws: DatasetError.featureMismatch(expected: 784, got: 1, source: "x")) {
            try idxData.validateFeatureCount(784)
        }
    }
}
