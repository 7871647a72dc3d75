/// Why a safetensors file could not be read or written; every message names the file.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist.
    case missingFile(String)
    /// The file exists but could not be read; `reason` is the system's explanation.
    case readFailed(file: String, reason: String)
    /// Fewer than the 8 bytes of the header length.
    case tooShort(file: String, size: Int)
    /// A header length that runs past the end of the file.
    case headerBeyondFile(file: String, headerLength: UInt64, fileSize: Int)
    /// A header that is not a JSON object.
    case invalidJSON(file: String, detail: String)
    /// `__metadata__` that is not an object of strings.
    case badMetadata(file: String, detail: String)
    /// A tensor entry without a required field (`dtype`, `shape`, `data_offsets`).
    case missingField(file: String, tensor: String, field: String)
    /// A tensor entry whose field has the wrong JSON type or form.
    case badField(file: String, tensor: String, field: String, detail: String)
    /// A dtype other than F32, the only one Descent stores.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A shape with a negative dimension, or whose product overflows.
    case badShape(file: String, tensor: String, shape: [Int])
    /// Offsets with end < begin or past the end of the data buffer.
    case badOffsets(file: String, tensor: String, begin: Int, end: Int, bufferSize: Int)
    /// Two tensors whose byte ranges overlap.
    case overlappingTensors(file: String, first: String, second: String)
    /// A byte range whose length is not product(shape) × 4.
    case sizeMismatch(file: String, tensor: String, shape: [Int], expectedBytes: Int, gotBytes: Int)
    /// A tensor given to the writer with a bad name, a negative dimension, or a value count that
    /// is not product(shape).
    case invalidTensor(file: String, tensor: String, detail: String)
    /// The file could not be written; `reason` says which step failed.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let file):
            return "\(file): no such file"
        case .readFailed(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .tooShort(let file, let size):
            return "\(file): not a safetensors file: \(size) bytes, shorter than the 8-byte header length"
        case .headerBeyondFile(let file, let headerLength, let fileSize):
            return "\(file): header length \(headerLength) runs past the end of the \(fileSize)-byte file"
        case .invalidJSON(let file, let detail):
            return "\(file): header is not a JSON object: \(detail)"
        case .badMetadata(let file, let detail):
            return "\(file): __metadata__ \(detail)"
        case .missingField(let file, let tensor, let field):
            return "\(file): tensor \(tensor) has no \"\(field)\""
        case .badField(let file, let tensor, let field, let detail):
            return "\(file): tensor \(tensor): \"\(field)\" \(detail)"
        case .unsupportedDType(let file, let tensor, let dtype):
            return "\(file): tensor \(tensor) has dtype \(dtype); only F32 is supported"
        case .badShape(let file, let tensor, let shape):
            return "\(file): tensor \(tensor) has invalid shape \(shape)"
        case .badOffsets(let file, let tensor, let begin, let end, let bufferSize):
            return
                "\(file): tensor \(tensor) has data_offsets [\(begin), \(end)] outside the \(bufferSize)-byte data buffer or reversed"
        case .overlappingTensors(let file, let first, let second):
            return "\(file): tensors \(first) and \(second) overlap in the data buffer"
        case .sizeMismatch(let file, let tensor, let shape, let expectedBytes, let gotBytes):
            return "\(file): tensor \(tensor) of shape \(shape) needs \(expectedBytes) bytes but has \(gotBytes)"
        case .invalidTensor(let file, let tensor, let detail):
            return "\(file): cannot write tensor \(tensor): \(detail)"
        case .writeFailed(let file, let reason):
            return "\(file): cannot write: \(reason)"
        }
    }
}
