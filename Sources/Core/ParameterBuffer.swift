/// Where W[l] and b[l] live inside one flat Float32 buffer: W1, b1, W2, b2, …, WL, bL.
///
/// One flat buffer lets the optimizer run one loop, the wire send one array and the reduction add
/// one array, while each W[l] stays a column-major (n_l, n_{l−1}) matrix that gemm reads in place.
public struct ParameterLayout: Sendable, Equatable {
    public let shape: NetworkShape
    /// Offset of W[l] for l in 1…L (index 0 unused).
    public let weightOffsets: [Int]
    /// Offset of b[l] for l in 1…L (index 0 unused).
    public let biasOffsets: [Int]
    public let count: Int

    public init(shape: NetworkShape) {
        self.shape = shape
        var weights = [0]
        var biases = [0]
        var offset = 0
        for l in 1...shape.depth {
            weights.append(offset)
            offset += shape.layers[l] * shape.layers[l - 1]
            biases.append(offset)
            offset += shape.layers[l]
        }
        weightOffsets = weights
        biasOffsets = biases
        count = offset
    }

    public func weightCount(_ l: Int) -> Int { shape.layers[l] * shape.layers[l - 1] }
}

/// A flat buffer in `ParameterLayout` order: the parameters W, b, or a gradient dW, db, or an
/// optimizer's moments. Allocated once; every step reuses it.
public final class ParameterBuffer: @unchecked Sendable {
    public let layout: ParameterLayout
    public let values: UnsafeMutablePointer<Float>
    public var count: Int { layout.count }
    /// What keeps borrowed values alive; nil when the buffer owns them.
    private let owner: Any?
    /// Whether the values may be written: owned, or lent to be written (`sharing`).
    public let isWritable: Bool

    public init(layout: ParameterLayout) {
        self.layout = layout
        values = .allocate(capacity: layout.count)
        values.initialize(repeating: 0, count: layout.count)
        owner = nil
        isWritable = true
    }

    /// Values that lie elsewhere — a worker's parameters, read where they arrived — held alive
    /// and unchanged by `owner` for as long as this buffer lives. Never written through.
    public init(layout: ParameterLayout, borrowing values: UnsafePointer<Float>, owner: Any) {
        self.layout = layout
        self.values = UnsafeMutablePointer(mutating: values)
        self.owner = owner
        isWritable = false
    }

    /// Values that lie elsewhere and are written here — memory shared by local processes that
    /// step among themselves (`RangeStepper`) — held alive by `owner` for as long as this buffer
    /// lives.
    public init(layout: ParameterLayout, sharing values: UnsafeMutablePointer<Float>, owner: Any) {
        self.layout = layout
        self.values = values
        self.owner = owner
        isWritable = true
    }

    /// Whether the buffer owns its values.
    public var ownsValues: Bool { owner == nil }

    deinit { if owner == nil { values.deallocate() } }

    /// W[l], column-major (n_l, n_{l−1}).
    @inline(__always) public func weight(_ l: Int) -> UnsafeMutablePointer<Float> { values + layout.weightOffsets[l] }
    /// b[l], (n_l).
    @inline(__always) public func bias(_ l: Int) -> UnsafeMutablePointer<Float> { values + layout.biasOffsets[l] }

    public var array: [Float] { Array(UnsafeBufferPointer(start: values, count: count)) }

    public func copy(from other: ParameterBuffer) {
        precondition(other.count == count, "parameter layouts differ")
        values.update(from: other.values, count: count)
    }

    public func copy(from array: [Float]) {
        precondition(array.count == count, "expected \(count) parameters, got \(array.count)")
        array.withUnsafeBufferPointer { values.update(from: $0.baseAddress!, count: count) }
    }

    public func fill(_ value: Float) { values.update(repeating: value, count: count) }

    /// Whether every value is finite: a gradient or an update that is not must never reach W, b.
    public var isFinite: Bool { Finiteness.allFinite(values, count: count) }
}
