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
    public let features: UnsafePointer<Float>
    public let labels: UnsafePointer<Int32>
    /// Keeps the memory behind `features` and `labels` alive.
    private let owner: AnyObject?
    private let ownedLabels: UnsafeMutablePointer<Int32>?

    /// A view of examples `range` of a dataset held elsewhere (in-process training).
    public init(id: Int, dataset: Dataset, range: Range<Int>) {
        self.id = id
        featureCount = dataset.featureCount
        count = range.count
        features = UnsafePointer(dataset.features.storage + range.lowerBound * featureCount)
        let labelCopy = UnsafeMutablePointer<Int32>.allocate(capacity: max(range.count, 1))
        dataset.labels.withUnsafeBufferPointer { all in
            labelCopy.update(from: all.baseAddress! + range.lowerBound, count: range.count)
        }
        labels = UnsafePointer(labelCopy)
        ownedLabels = labelCopy
        owner = dataset.features
    }

    /// A shard received over the wire: `features` (n0, count) owns its storage.
    public init(id: Int, features matrix: Matrix, labels labelValues: [Int32]) {
        precondition(matrix.cols == labelValues.count, "one label per example")
        self.id = id
        featureCount = matrix.rows
        count = matrix.cols
        features = UnsafePointer(matrix.storage)
        let labelCopy = UnsafeMutablePointer<Int32>.allocate(capacity: max(labelValues.count, 1))
        labelValues.withUnsafeBufferPointer { labelCopy.update(from: $0.baseAddress!, count: labelValues.count) }
        labels = UnsafePointer(labelCopy)
        ownedLabels = labelCopy
        owner = matrix
    }

    deinit { ownedLabels?.deallocate() }

    /// Σ dW, Σ db over the selected examples into `grad`; returns their Σ loss and correct count.
    /// `onSegment`: see `Network.gradientSum`.
    public func computePartial(
        _ p: ParameterBuffer, selection: ExampleSelection, workspace ws: Workspace, into grad: ParameterBuffer,
        onSegment: ((Int, OutputLayer.Evaluation) -> Void)? = nil
    ) -> OutputLayer.Evaluation {
        switch selection {
        case .range(let r):
            precondition(r.lowerBound >= 0 && r.upperBound <= count, "selection outside shard \(id)")
            return Network.gradientSum(
                p, input: features + r.lowerBound * featureCount, count: r.count,
                labels: labels + r.lowerBound, workspace: ws, into: grad, onSegment: onSegment)
        case .list(let indices):
            let m = indices.count
            let (x, y) = ws.reserveGathered(m)
            for (column, index) in indices.enumerated() {
                let i = Int(index)
                precondition(i >= 0 && i < count, "selection outside shard \(id)")
                y[column] = labels[i]
            }
            indices.withUnsafeBufferPointer { indices in
                descent_gather_columns(x, features, indices.baseAddress, indices.count, featureCount)
            }
            return Network.gradientSum(p, input: x, count: m, labels: y, workspace: ws, into: grad, onSegment: onSegment)
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
