/// Per-feature standardization, `x' = (x − mean) / std`, with the training set's statistics.
///
/// `train --standardize` computes them once, in the coordinator, over the whole training set
/// before it is cut into shards (so they do not depend on the shard or worker count), applies
/// them to the training and test data, and stores them in the model and its checkpoints as two
/// F32 tensors of shape [n0], `standardize.mean` and `standardize.std`; `evaluate` and `predict`
/// apply the model's to their input. The arithmetic is Float32, `(x − mean) / std` with a true
/// division (an ONNX Sub then Div computes the same bits).
public struct Standardization: Sendable, Equatable {
    /// The tensor names in a model file.
    public static let meanTensor = "standardize.mean"
    public static let stdTensor = "standardize.std"

    /// Features larger than this in magnitude suggest unscaled data (pixels 0–255, say).
    public static let unscaledMagnitude: Float = 10

    public let mean: [Float]
    /// Every entry positive: a feature that never varies has std 1, so it becomes x − mean.
    public let std: [Float]

    public var featureCount: Int { mean.count }

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "one mean and one std per feature")
        self.mean = mean
        self.std = std
    }

    /// The statistics of `features` (n0, m): per feature the mean and the population standard
    /// deviation (divided by m), accumulated in Float64 in two passes, examples in order — the
    /// same bits on every machine. A zero std (a constant feature) becomes 1.
    public static func of(_ features: Matrix) -> Standardization {
        let n = features.rows
        let m = features.cols
        precondition(m > 0, "statistics of no examples")
        var sum = [Double](repeating: 0, count: n)
        var squares = [Double](repeating: 0, count: n)
        let x = features.storage
        for j in 0..<m {
            let column = x + j * n
            for i in 0..<n { sum[i] += Double(column[i]) }
        }
        let mean = sum.map { $0 / Double(m) }
        for j in 0..<m {
            let column = x + j * n
            for i in 0..<n {
                let d = Double(column[i]) - mean[i]
                squares[i] += d * d
            }
        }
        let std = squares.map { squares -> Float in
            let s = Float((squares / Double(m)).squareRoot())
            return s > 0 && s.isFinite ? s : 1
        }
        return Standardization(mean: mean.map { Float($0) }, std: std)
    }

    /// Standardizes `features` (n0, m) in place.
    public func apply(to features: Matrix) {
        precondition(features.rows == featureCount, "\(features.rows) features, statistics for \(featureCount)")
        let x = features.storage
        for j in 0..<features.cols {
            let column = x + j * featureCount
            for i in 0..<featureCount { column[i] = (column[i] - mean[i]) / std[i] }
        }
    }

    /// Standardizes examples of n0 features each, one after another, in place.
    public func apply(to features: inout [Float]) {
        precondition(features.count % max(featureCount, 1) == 0, "whole examples of \(featureCount) features")
        for k in features.indices {
            let i = k % featureCount
            features[k] = (features[k] - mean[i]) / std[i]
        }
    }

    /// The largest |x| in `features`.
    public static func largestMagnitude(_ features: Matrix) -> Float {
        var largest: Float = 0
        for k in 0..<features.count { largest = max(largest, abs(features.storage[k])) }
        return largest
    }

    /// The two tensors a model file holds.
    public var tensors: [String: SafetensorsFile.Tensor] {
        [
            Self.meanTensor: .init(shape: [featureCount], values: mean),
            Self.stdTensor: .init(shape: [featureCount], values: std),
        ]
    }

    /// The statistics in `tensors`, if there are any, checked against `features` (n0).
    static func read(
        from tensors: [String: SafetensorsFile.Tensor], features: Int, path: String
    ) throws(ConfigurationError) -> Standardization? {
        let mean = tensors[meanTensor]
        let std = tensors[stdTensor]
        guard mean != nil || std != nil else { return nil }
        guard let mean, let std else {
            throw .modelMismatch(
                file: path,
                reason: "holds \(mean == nil ? stdTensor : meanTensor) without \(mean == nil ? meanTensor : stdTensor)")
        }
        for (name, tensor) in [(meanTensor, mean), (stdTensor, std)] where tensor.shape != [features] {
            throw .modelMismatch(
                file: path, reason: "\(name) has shape \(tensor.shape), the input layer needs [\(features)]")
        }
        guard mean.values.allSatisfy(\.isFinite), std.values.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw .modelMismatch(
                file: path, reason: "\(meanTensor) must be finite and \(stdTensor) finite and positive")
        }
        return Standardization(mean: mean.values, std: std.values)
    }
}
