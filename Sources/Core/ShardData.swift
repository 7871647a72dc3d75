import CGather

/// One shard's examples, and the computation of its partial: the same code in every process.
///
/// Invariant 3 lives here: a partial depends only on the shard's data, the selection and the
/// parameters, never on who computes it or how many shards that process hosts.
public final class ShardData: @unchecked Sendable {
    public let id: Int
    public let featureCount: Int
    public let count: Int
    /// (n0, count), column-major.
    private var features: Features
    /// The shard's own copy of its labels.
    public let labels: UnsafePointer<Int32>
    /// Keeps the memory behind `features` alive.
    private var owner: AnyObject?
    private var ownedCodes: UnsafeMutablePointer<UInt8>?

    /// How the features are kept.
    private enum Features {
        case floats(UnsafePointer<Float>)
        /// One byte per value, the value code / 255 (`descent_decode_byte_codes`): a quarter of
        /// the memory, decoded as examples are gathered into a batch.
        case byteCodes(UnsafePointer<UInt8>)
    }

    /// Whether the features are kept as byte codes, one byte per value (see `ShardFeatureBuilder`).
    public var keepsByteCodes: Bool {
        if case .byteCodes = features { return true }
        return false
    }

    /// Bytes the features take in memory.
    public var featureBytes: Int { featureCount * count * (keepsByteCodes ? 1 : MemoryLayout<Float>.size) }

    /// A view of examples `range` of a dataset held elsewhere (in-process training).
    public init(id: Int, dataset: Dataset, range: Range<Int>) {
        self.id = id
        featureCount = dataset.featureCount
        count = range.count
        features = .floats(UnsafePointer(dataset.features.storage + range.lowerBound * featureCount))
        labels = Self.copy(dataset.labels[range])
        ownedCodes = nil
        owner = dataset.features
    }

    /// A shard received over the wire: `features` (n0, count) owns its storage.
    public init(id: Int, features matrix: Matrix, labels labelValues: [Int32]) {
        precondition(matrix.cols == labelValues.count, "one label per example")
        self.id = id
        featureCount = matrix.rows
        count = matrix.cols
        features = .floats(UnsafePointer(matrix.storage))
        labels = Self.copy(labelValues[...])
        ownedCodes = nil
        owner = matrix
    }

    fileprivate init(id: Int, featureCount: Int, codes: UnsafeMutablePointer<UInt8>, labels labelValues: [Int32]) {
        self.id = id
        self.featureCount = featureCount
        count = labelValues.count
        features = .byteCodes(UnsafePointer(codes))
        labels = Self.copy(labelValues[...])
        ownedCodes = codes
        owner = nil
    }

    private static func copy(_ labels: ArraySlice<Int32>) -> UnsafePointer<Int32> {
        let copy = UnsafeMutablePointer<Int32>.allocate(capacity: max(labels.count, 1))
        labels.withUnsafeBufferPointer { copy.update(from: $0.baseAddress!, count: labels.count) }
        return UnsafePointer(copy)
    }

    deinit {
        UnsafeMutablePointer(mutating: labels).deallocate()
        ownedCodes?.deallocate()
    }

    /// Σ dW, Σ db over the selected examples into `grad`; returns their Σ loss and correct count.
    /// `onSegment`: see `Network.gradientSum`.
    public func computePartial(
        _ p: ParameterBuffer, selection: ExampleSelection, workspace ws: Workspace, into grad: ParameterBuffer,
        onSegment: (Int, OutputLayer.Evaluation) -> Void = { _, _ in }
    ) -> OutputLayer.Evaluation {
        switch (selection, features) {
        case (.range(let r), .floats(let values)):
            precondition(r.lowerBound >= 0 && r.upperBound <= count, "selection outside shard \(id)")
            return Network.gradientSum(
                p, input: values + r.lowerBound * featureCount, count: r.count,
                labels: labels + r.lowerBound, workspace: ws, into: grad, onSegment: onSegment)
        case (.range, .byteCodes(let codes)):
            // Only a full batch selects a range: every step then reads the whole shard, so it is
            // kept as floats from here on and used where it lies, like any shard of floats, rather
            // than decoded again at every step.
            let matrix = Matrix(decoding: codes, rows: featureCount, cols: count)
            features = .floats(UnsafePointer(matrix.storage))
            owner = matrix
            codes.deallocate()
            ownedCodes = nil
            return computePartial(p, selection: selection, workspace: ws, into: grad, onSegment: onSegment)
        case (.list(let indices), _):
            let m = indices.count
            let (x, y) = ws.reserveGathered(m)
            for (column, index) in indices.enumerated() {
                let i = Int(index)
                precondition(i >= 0 && i < count, "selection outside shard \(id)")
                y[column] = labels[i]
            }
            indices.withUnsafeBufferPointer { indices in
                switch features {
                case .floats(let values):
                    descent_gather_columns(x, values, indices.baseAddress, indices.count, featureCount)
                case .byteCodes(let codes):
                    descent_gather_byte_columns(x, codes, indices.baseAddress, indices.count, featureCount)
                }
            }
            return Network.gradientSum(
                p, input: x, count: m, labels: y, workspace: ws, into: grad, onSegment: onSegment)
        }
    }

    /// Whether a selection names only examples this shard has.
    public func accepts(_ selection: ExampleSelection) -> Bool {
        switch selection {
        case .range(let r): return r.lowerBound >= 0 && r.upperBound <= count
        case .list(let l): return l.allSatisfy { $0 >= 0 && Int($0) < count }
        }
    }
}

/// A shard's features as they arrive, chunk by chunk: kept as byte codes (one byte per value,
/// `ShardData`'s quarter-size form) while every value is one — a pixel p / 255, as Fashion-MNIST's
/// are — and as floats from the first value that is not. Only what the shard is kept as is ever
/// held: no float copy of a shard of pixels exists at any point.
public final class ShardFeatureBuilder {
    public let featureCount: Int
    public let count: Int
    private var codes: UnsafeMutablePointer<UInt8>?
    private var floats: Matrix?

    public init(featureCount: Int, count: Int) {
        self.featureCount = featureCount
        self.count = count
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(featureCount * count, 1))
        codes.initialize(repeating: 0, count: max(featureCount * count, 1))
        self.codes = codes
    }

    deinit { codes?.deallocate() }

    /// Whether every value so far is kept as a byte code.
    public var keepsByteCodes: Bool { codes != nil }

    /// Takes the features of examples `firstExample ..< firstExample + values.count / featureCount`.
    public func write(_ values: UnsafeBufferPointer<Float>, at firstExample: Int) {
        precondition(
            values.count % featureCount == 0 && firstExample >= 0
                && firstExample + values.count / featureCount <= count,
            "whole examples inside the shard")
        guard let base = values.baseAddress else { return }
        let offset = firstExample * featureCount
        if let codes {
            if descent_encode_byte_codes(codes + offset, base, values.count) == 1 { return }
            // A value that is not a code: the shard is kept as floats from here on, the codes
            // written so far decoded into them (slots not yet written decode to 0 until their
            // chunks arrive).
            let matrix = Matrix(decoding: codes, rows: featureCount, cols: count)
            codes.deallocate()
            self.codes = nil
            floats = matrix
        }
        (floats!.storage + offset).update(from: base, count: values.count)
    }

    /// The shard, once every example's features are written.
    public func finish(id: Int, labels: [Int32]) -> ShardData {
        precondition(labels.count == count, "one label per example")
        if let codes {
            self.codes = nil
            return ShardData(id: id, featureCount: featureCount, codes: codes, labels: labels)
        }
        return ShardData(id: id, features: floats!, labels: labels)
    }
}

extension Matrix {
    /// The (rows, cols) matrix whose values `codes` hold as byte codes (`descent_decode_byte_codes`).
    fileprivate convenience init(decoding codes: UnsafePointer<UInt8>, rows: Int, cols: Int) {
        self.init(rows: rows, cols: cols)
        descent_decode_byte_codes(storage, codes, rows * cols)
    }
}
