import CZlib

/// Loads an MNIST-format pair of IDX files, gzipped or not.
///
/// IDX (yann.lecun.com/exdb/mnist): a big-endian u32 magic `0x0000_08DD` (08 = unsigned bytes,
/// DD = number of dimensions), DD big-endian u32 dimensions, then the bytes row-major. Images
/// are (count, rows, cols); labels are (count). Pixels become features scaled to [0, 1] as
/// `Float(pixel) / 255`; an image's rows × cols pixels, in file order, are its column of features.
public enum IDXLoader {
    static let imagesMagic: UInt32 = 0x0000_0803
    static let labelsMagic: UInt32 = 0x0000_0801

    /// `Float(pixel) / 255` for every pixel value, so the hot loop is one load per pixel.
    private static let scaledPixel: [Float] = (0..<256).map { Float($0) / 255 }

    /// Loads the images and labels files as one data set; `source` is the images path.
    public static func load(images: String, labels: String) throws(DatasetError) -> Dataset {
        let labelBytes = try contents(of: labels)
        let labelDimensions = try dimensions(of: labelBytes, file: labels, magic: labelsMagic)
        let imageBytes = try contents(of: images)
        let imageDimensions = try dimensions(of: imageBytes, file: images, magic: imagesMagic)
        let count = imageDimensions[0]
        guard count == labelDimensions[0] else {
            throw .countMismatch(images: images, labels: labels, imageCount: count, labelCount: labelDimensions[0])
        }

        let featureCount = imageDimensions[1] * imageDimensions[2]
        let features = Matrix(rows: featureCount, cols: count)
        imageBytes.withUnsafeBufferPointer { bytes in
            scaledPixel.withUnsafeBufferPointer { scaled in
                let pixels = bytes.baseAddress! + headerSize(imagesMagic)
                let storage = features.storage
                for k in 0..<(featureCount * count) {
                    storage[k] = scaled[Int(pixels[k])]
                }
            }
        }
        let labelStart = headerSize(labelsMagic)
        let labelValues = labelBytes[labelStart..<(labelStart + count)].map { Int32($0) }
        return Dataset(features: features, labels: labelValues, source: images)
    }

    /// The bytes of an IDX file, inflated when the file starts with the gzip magic 1f 8b.
    static func contents(of path: String) throws(DatasetError) -> [UInt8] {
        let bytes = try Dataset.readFile(path)
        guard bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b else { return bytes }
        return try inflateGzip(bytes, file: path)
    }

    /// The 4-byte magic plus one 4-byte dimension per the magic's low byte.
    static func headerSize(_ magic: UInt32) -> Int { 4 + 4 * Int(magic & 0xff) }

    /// Validates an IDX file's magic, dimensions and length, and returns its dimensions.
    static func dimensions(of bytes: [UInt8], file: String, magic: UInt32) throws(DatasetError) -> [Int] {
        let header = headerSize(magic)
        if bytes.count >= 4 {
            let found = bigEndianUInt32(bytes, at: 0)
            guard found == magic else { throw .badMagic(file: file, expected: magic, got: found) }
        }
        guard bytes.count >= header else { throw .truncated(file: file, expected: header, got: bytes.count) }

        let dimensions = (0..<Int(magic & 0xff)).map { Int(bigEndianUInt32(bytes, at: 4 + 4 * $0)) }
        var payload = 1
        for dimension in dimensions {
            let (product, overflow) = payload.multipliedReportingOverflow(by: dimension)
            guard dimension > 0, !overflow else { throw .badDimensions(file: file, dimensions: dimensions) }
            payload = product
        }
        let expected = header + payload
        guard bytes.count >= expected else { throw .truncated(file: file, expected: expected, got: bytes.count) }
        guard bytes.count == expected else { throw .trailingData(file: file, expected: expected, got: bytes.count) }
        return dimensions
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// Room to inflate `compressed` into: the gzip trailer's ISIZE, the last member's length mod
    /// 2^32 (usually the exact size), bounded by deflate's largest expansion, 1032:1.
    private static func inflatedSizeHint(_ compressed: [UInt8]) -> Int {
        guard compressed.count >= 4 else { return 64 }
        let n = compressed.count
        let trailerSize =
            Int(compressed[n - 4]) | Int(compressed[n - 3]) << 8 | Int(compressed[n - 2]) << 16
            | Int(compressed[n - 1]) << 24
        return min(trailerSize, n * 1032) + 64
    }

    /// Inflates one or more concatenated gzip members (what `gzip` and `cat a.gz b.gz` produce).
    ///
    /// zlib reports a damaged stream as Z_DATA_ERROR and one that stops early as Z_BUF_ERROR
    /// with no input left; both become `corruptGzip` naming the file.
    static func inflateGzip(_ compressed: [UInt8], file: String) throws(DatasetError) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 32: the largest window, with the gzip/zlib header detected automatically.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corruptGzip(file: file, detail: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }

        var output = [UInt8](repeating: 0, count: inflatedSizeHint(compressed))
        var produced = 0
        let maxChunk = Int(UInt32.max)

        return try compressed.withUnsafeBufferPointer { (input) throws(DatasetError) -> [UInt8] in
            var consumed = 0
            while true {
                if produced == output.count {
                    output.append(contentsOf: repeatElement(0, count: max(output.count, 1 << 20)))
                }
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + consumed)
                stream.avail_in = uInt(min(input.count - consumed, maxChunk))
                let inputBefore = Int(stream.avail_in)
                let status = output.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = uInt(min(out.count - produced, maxChunk))
                    let outputBefore = Int(stream.avail_out)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced += outputBefore - Int(stream.avail_out)
                    return status
                }
                consumed += inputBefore - Int(stream.avail_in)

                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    if consumed == input.count {
                        output.removeSubrange(produced...)
                        return output
                    }
                    guard input.count - consumed >= 2, input[consumed] == 0x1f, input[consumed + 1] == 0x8b else {
                        throw .corruptGzip(file: file, detail: "unexpected bytes after the end of the gzip stream")
                    }
                    inflateReset(&stream)
                case Z_BUF_ERROR where consumed == input.count:
                    throw .corruptGzip(file: file, detail: "the stream ends early (truncated file?)")
                case Z_BUF_ERROR:
                    continue
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw .corruptGzip(file: file, detail: detail)
                }
            }
        }
    }
}
