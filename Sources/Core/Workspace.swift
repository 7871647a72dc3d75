/// Scratch memory for a forward and backward pass over up to `capacity` examples.
///
/// Grows only when a batch is larger than any before it, so a training loop allocates on its first
/// step and never again. A[l] buffers are overwritten by dZ[l] during backward: g′ is computed
/// from A (see `Activation.derivative(fromOutput:)`), so Z need not be kept.
public final class Workspace: @unchecked Sendable {
    public let shape: NetworkShape
    public private(set) var capacity = 0
    /// A[l] for l in 1…L, each (n_l, capacity); index 0 is unused (A[0] is the input).
    private(set) var activations: [UnsafeMutablePointer<Float>] = []
    /// dA[l−1] = W[l]ᵀ·dZ[l], (max n_l over hidden layers, capacity).
    private(set) var scratch: UnsafeMutablePointer<Float>?
    /// Examples gathered from a shard for a shuffled mini-batch, (n0, capacity).
    private(set) var gatheredInput: UnsafeMutablePointer<Float>?
    private(set) var gatheredLabels: UnsafeMutablePointer<Int32>?

    /// dW[l]'s column blocks for l in 1…L (`ParameterLayout.columnBlocks`), computed once.
    let columnBlocks: [[Range<Int>]]
    /// Where the gradient's segments lie (`ParameterLayout.segments`), computed once.
    let segments: [Range<Int>]

    public init(shape: NetworkShape, capacity: Int = 0) {
        self.shape = shape
        let layout = ParameterLayout(shape: shape)
        columnBlocks = [[]] + (1...shape.depth).map { layout.columnBlocks(layer: $0) }
        segments = layout.segments.map(\.range)
        reserve(capacity)
    }

    deinit { release() }

    /// Makes room for `m` examples.
    public func reserve(_ m: Int) {
        guard m > capacity else { return }
        release()
        capacity = m
        activations = [UnsafeMutablePointer<Float>.allocate(capacity: 1)]
        for l in 1...shape.depth {
            activations.append(.allocate(capacity: shape.layers[l] * m))
        }
        let hidden = shape.layers[1..<shape.depth].max() ?? 0
        if hidden > 0 { scratch = .allocate(capacity: hidden * m) }
    }

    /// Room for `m` gathered examples (inputs and labels), allocated on first use.
    func reserveGathered(_ m: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int32>) {
        reserve(m)
        if gatheredInput == nil {
            gatheredInput = .allocate(capacity: shape.inputs * capacity)
            gatheredLabels = .allocate(capacity: capacity)
        }
        return (gatheredInput!, gatheredLabels!)
    }

    /// A[L], (n_L, m): the network's outputs after `forward`.
    public var output: UnsafeMutablePointer<Float> { activations[shape.depth] }

    private func release() {
        for buffer in activations { buffer.deallocate() }
        activations = []
        scratch?.deallocate()
        scratch = nil
        gatheredInput?.deallocate()
        gatheredInput = nil
        gatheredLabels?.deallocate()
        gatheredLabels = nil
    }
}
