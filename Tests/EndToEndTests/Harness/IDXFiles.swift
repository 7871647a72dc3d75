import Foundation

/// MNIST-style IDX files (big-endian u32 magic 0x0803/0x0801, dimensions, bytes), for the loader's
/// failure cases.
enum IDXFiles {
    static func images(count: Int, rows: Int = 28, cols: Int = 28, pixelBytes: Int? = nil) -> [UInt8] {
        var bytes =
            bigEndian(0x0000_0803) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols))
        let n = pixelBytes ?? count * rows * cols
        bytes += (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        return bytes
    }

    static func labels(count: Int) -> [UInt8] {
        bigEndian(0x0000_0801) + bigEndian(UInt32(count)) + (0..<count).map { UInt8($0 % 10) }
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}

extension Array where Element == UInt8 {
    func write(to path: String) throws {
        try Data(self).write(to: URL(fileURLWithPath: path))
    }
}
