/// The one order in which a step's K shard partials are added: a fixed pairwise tree over the
/// shard indices 0…K−1 that depends on K alone (invariant 2).
///
/// A node is a span of shards [a, b). A leaf is one shard; any other node is the sum of its two
/// children, left + right, split at `split(_:)`: a plus the largest power of two below b − a. So
/// every aligned block of 2ʲ shards inside 0…K−1 is a node (shards 4…7 of 8 or of 12), and a
/// process that holds every shard of a node may add them itself: the sum has the same bits
/// wherever it is computed. Each value's rounding error grows with the tree's depth, ⌈log₂ K⌉,
/// not with K as a left-to-right sum's does.
public struct ReductionTree: Sendable, Equatable {
    public let shardCount: Int
    /// Every node, children before their parent; the root last.
    public let nodes: [Node]
    private let indexOfSpan: [Range<Int>: Int]

    public struct Node: Sendable, Equatable {
        public let span: Range<Int>
        /// Indices in `nodes`; nil for a leaf.
        public let left: Int?
        public let right: Int?
        /// nil for the root.
        public internal(set) var parent: Int?
    }

    public init(shards: Int) {
        precondition(shards >= 1, "a tree over at least one shard")
        shardCount = shards
        var nodes: [Node] = []
        nodes.reserveCapacity(2 * shards - 1)
        @discardableResult
        func build(_ span: Range<Int>) -> Int {
            guard span.count > 1 else {
                nodes.append(Node(span: span, left: nil, right: nil, parent: nil))
                return nodes.count - 1
            }
            let mid = Self.split(span)
            let left = build(span.lowerBound..<mid)
            let right = build(mid..<span.upperBound)
            nodes.append(Node(span: span, left: left, right: right, parent: nil))
            let index = nodes.count - 1
            nodes[left].parent = index
            nodes[right].parent = index
            return index
        }
        build(0..<shards)
        self.nodes = nodes
        indexOfSpan = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element.span, $0.offset) })
    }

    /// Where a node over `span` (two shards or more) splits: its left child is a…mid, a block of
    /// the largest power of two below the span's count.
    public static func split(_ span: Range<Int>) -> Int {
        precondition(span.count > 1, "a leaf does not split")
        let n = span.count
        return span.lowerBound + (1 << (Int.bitWidth - 1 - (n - 1).leadingZeroBitCount))
    }

    /// The root's index in `nodes`.
    public var root: Int { nodes.count - 1 }

    /// The node over `span`, if the tree has one.
    public func node(_ span: Range<Int>) -> Int? { indexOfSpan[span] }

    /// Shard k's leaf.
    public func leaf(_ k: Int) -> Int { indexOfSpan[k..<k + 1]! }

    /// The largest nodes that `shards` fill, in shard order: what a process holding exactly
    /// those shards adds itself and sends, one vector a node. `shards` must be in range.
    public func cover(_ shards: some Sequence<Int>) -> [Range<Int>] {
        var held = Array(repeating: false, count: shardCount)
        for k in shards {
            precondition(k >= 0 && k < shardCount, "shard \(k) of \(shardCount)")
            held[k] = true
        }
        var spans: [Range<Int>] = []
        func visit(_ index: Int) {
            let node = nodes[index]
            if node.span.allSatisfy({ held[$0] }) {
                spans.append(node.span)
            } else if let left = node.left, let right = node.right {
                visit(left)
                visit(right)
            }
        }
        visit(root)
        return spans
    }
}
