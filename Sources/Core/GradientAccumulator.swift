/// Adds one step's partials by the fixed tree over shard indices (`ReductionTree`), whatever
/// order they arrive in and whoever added parts of the tree before.
///
/// What arrives is a node's value: one shard's partial, or the sum of a whole subtree that the
/// process holding its shards added itself. It arrives segment by segment (`ParameterLayout
/// .segments`, as workers send them while backprop runs), or whole, which is all its segments at
/// once; each segment is added up the tree on its own. A node waits until its sibling is in, and
/// the two are then added, left + right, into their parent — so every value is the same sum of
/// the same leaves in the same tree, and the same partials give the same bits however the work
/// was spread or cut, and wherever subtrees were added (invariant 2). A node's statistics
/// (examples, correct, Σ loss) are added by the same tree.
///
/// An accumulator sums the whole tree (the coordinator, the in-process path) or one subtree, its
/// `top` (a worker adding the shards it holds before it sends them). It sums every segment, or
/// only those it is `expecting` (`--reducers`: the pieces of the ranges this process reduces);
/// the others' updated values are computed elsewhere and handed in whole (`takeReduced`).
public final class GradientAccumulator: @unchecked Sendable {
    public let layout: ParameterLayout
    public let shardCount: Int
    public let tree: ReductionTree
    /// The node this accumulator sums (`tree.root` unless it sums a subtree), and its span.
    public let top: Int
    public let topSpan: Range<Int>
    /// Where each segment lies in the flat buffer, in the order workers send them.
    public let segments: [Range<Int>]
    /// The top node's sum, segment by segment as each completes.
    public let sum: ParameterBuffer

    /// A node's statistics: added by the tree as its values are.
    public struct Statistics: Sendable, Equatable {
        public var examples = 0
        public var correct = 0
        public var lossSum = 0.0

        public init(examples: Int = 0, correct: Int = 0, lossSum: Double = 0) {
            self.examples = examples
            self.correct = correct
            self.lossSum = lossSum
        }
    }

    /// Examples and correct answers of the first summed segment's values in so far (integers: any order).
    public private(set) var examples = 0
    public private(set) var correct = 0
    /// Σ loss by the tree: the top node's, once its first segment is complete (0 before).
    public private(set) var lossSum = 0.0

    private let nodeCount: Int
    /// Per (segment, node): the node's value is known and waits for its sibling, or was added on.
    private var known: [Bool]
    /// Per (segment, node): where a waiting node's values lie: `sumSlot`, or a pool buffer.
    private var place: [Int]
    private var statistics: [Statistics]
    /// Per (segment, shard): the shard's values for that segment are in, on their own or in a node.
    private var covered: [Bool]
    /// Per segment: buffers of that segment's size for nodes that wait, and those free.
    private var pool: [[UnsafeMutablePointer<Float>]]
    private var free: [[Int]]
    private var segmentsComplete = 0
    /// Where `accumulate` computes a partial that cannot go into the sum itself.
    private var scratch: ParameterBuffer?
    private var onSegmentComplete: (Range<Int>) -> Void = { _ in }
    private var onReduced: (Range<Int>, UnsafePointer<Float>?, UInt32) -> Void = { _, _, _ in }
    /// Per segment: whether this accumulator sums it.
    private let expected: [Bool]
    private let expectedCount: Int
    /// The first segment summed here: its statistics are the ones counted.
    private let firstExpected: Int
    /// Values of the segments summed elsewhere whose updated values are handed in, and how many are in.
    public let reducedElsewhere: Int
    private var reducedIn = 0
    private static let sumSlot = -1

    /// Sums the whole tree over `shards`, or, with `top`, the subtree over that span (a node of
    /// the tree).
    /// - Parameters:
    ///   - segments: how partials are cut (`ReductionRanges.pieces`); `layout.segments` when nil.
    ///   - expecting: the indices of the segments summed here; all when nil.
    ///   - othersHandedIn: whether the other segments' updated values are handed in
    ///     (`takeReduced`) before the step is complete (the coordinator's), or are no concern of
    ///     this accumulator (a reducer's).
    public init(
        layout: ParameterLayout, shards: Int, top: Range<Int>? = nil, segments: [Range<Int>]? = nil,
        expecting: [Int]? = nil, othersHandedIn: Bool = true
    ) {
        self.layout = layout
        shardCount = shards
        let tree = ReductionTree(shards: shards)
        self.tree = tree
        let topIndex = top.map { span in
            guard let index = tree.node(span) else {
                preconditionFailure("\(span) is not a node of the tree over \(shards)")
            }
            return index
        }
        self.top = topIndex ?? tree.root
        topSpan = tree.nodes[topIndex ?? tree.root].span
        let segments = segments ?? layout.segments.map(\.range)
        self.segments = segments
        var expected = Array(repeating: expecting == nil, count: segments.count)
        for s in expecting ?? [] { expected[s] = true }
        self.expected = expected
        expectedCount = expected.count { $0 }
        precondition(expectedCount > 0, "an accumulator sums at least one segment")
        firstExpected = expected.firstIndex(of: true)!
        reducedElsewhere =
            othersHandedIn ? segments.indices.reduce(0) { $0 + (expected[$1] ? 0 : segments[$1].count) } : 0
        sum = ParameterBuffer(layout: layout)
        nodeCount = tree.nodes.count
        known = Array(repeating: false, count: segments.count * nodeCount)
        place = Array(repeating: Self.sumSlot, count: segments.count * nodeCount)
        statistics = Array(repeating: Statistics(), count: segments.count * nodeCount)
        covered = Array(repeating: false, count: segments.count * shards)
        pool = Array(repeating: [], count: segments.count)
        free = Array(repeating: [], count: segments.count)
    }

    deinit {
        for buffers in pool { for buffer in buffers { buffer.deallocate() } }
    }

    /// Every segment summed here is complete, and every value updated elsewhere is in.
    public var isComplete: Bool { segmentsComplete == expectedCount && reducedIn == reducedElsewhere }

    /// Every segment summed here is complete (the values updated elsewhere may still be missing).
    public var isCompleteHere: Bool { segmentsComplete == expectedCount }

    /// Whether segment s is summed here.
    public func expects(segment s: Int) -> Bool { s >= 0 && s < segments.count && expected[s] }

    /// Starts a new step. `onSegmentComplete` hears each segment's range as soon as its sum is
    /// complete (every shard's values in, added by the tree), while the rest may still be arriving;
    /// `onReduced` hears the updated values of a range summed and updated elsewhere, with their
    /// finiteness marks (`takeReduced`).
    public func reset(
        onSegmentComplete: @escaping (Range<Int>) -> Void = { _ in },
        onReduced: @escaping (Range<Int>, UnsafePointer<Float>?, UInt32) -> Void = { _, _, _ in }
    ) {
        reducedIn = 0
        self.onReduced = onReduced
        examples = 0
        correct = 0
        lossSum = 0
        segmentsComplete = 0
        for i in known.indices { known[i] = false }
        for i in covered.indices { covered[i] = false }
        for s in free.indices {
            free[s].removeAll(keepingCapacity: true)
            free[s].append(contentsOf: pool[s].indices)
        }
        self.onSegmentComplete = onSegmentComplete
    }

    /// The top node's statistics once segment s is complete.
    public func statistics(segment s: Int) -> Statistics { statistics[s * nodeCount + top] }

    /// Whether shard k's whole partial for this step is already in (on its own or in a node):
    /// every segment summed here.
    public func has(shard k: Int) -> Bool {
        segments.indices.allSatisfy { !expected[$0] || covered[$0 * shardCount + k] }
    }

    /// Whether shard k's segment s is already in.
    public func has(shard k: Int, segment s: Int) -> Bool { covered[s * shardCount + k] }

    /// Whether any segment of shard k is in: a node that holds it can no longer be taken whole.
    public func touched(shard k: Int) -> Bool {
        segments.indices.contains { expected[$0] && covered[$0 * shardCount + k] }
    }

    /// Whether any shard of `span` has segment s in already.
    public func overlaps(_ span: Range<Int>, segment s: Int) -> Bool {
        span.contains { covered[s * shardCount + $0] }
    }

    /// Takes segment s of the node over `span` (one shard, or a subtree added elsewhere):
    /// `values` holds that segment's values. The node's statistics come with each segment.
    public func add(
        _ span: Range<Int>, segment s: Int, values: UnsafePointer<Float>, statistics stats: Statistics
    ) {
        guard let node = tree.node(span), topSpan.lowerBound <= span.lowerBound, span.upperBound <= topSpan.upperBound
        else { preconditionFailure("\(span) is not a node under \(topSpan)") }
        precondition(
            expects(segment: s) && !overlaps(span, segment: s), "\(span) segment \(s) twice, or not summed here")
        for k in span { covered[s * shardCount + k] = true }
        if s == firstExpected {
            examples += stats.examples
            correct += stats.correct
        }
        statistics[s * nodeCount + node] = stats
        settle(node, segment: s, from: .incoming(values))
    }

    /// Takes segment s of shard k's partial.
    public func add(
        shard k: Int, segment s: Int, values: UnsafePointer<Float>, examples n: Int, correct c: Int,
        lossSum loss: Double
    ) {
        add(k..<k + 1, segment: s, values: values, statistics: Statistics(examples: n, correct: c, lossSum: loss))
    }

    /// Takes the node over `span` whole, `layout.count` values: each of its segments not in yet —
    /// all of them, unless some came before the coordinator computed these shards itself.
    public func add(_ span: Range<Int>, gradients: UnsafePointer<Float>, statistics stats: Statistics) {
        for (s, range) in segments.enumerated() where expected[s] && !overlaps(span, segment: s) {
            add(span, segment: s, values: gradients + range.lowerBound, statistics: stats)
        }
    }

    /// Takes shard k's partial whole (`add(_:gradients:statistics:)`).
    public func add(
        shard k: Int, gradients: UnsafePointer<Float>, examples n: Int, correct c: Int, lossSum loss: Double
    ) {
        add(k..<k + 1, gradients: gradients, statistics: Statistics(examples: n, correct: c, lossSum: loss))
    }

    /// Shard k's partial, computed by `body` into the buffer it is handed, which returns the
    /// partial's correct count and Σ loss. The shard that starts the top node's span is computed
    /// into the sum itself, where its values stay: that saves copying a whole gradient a step.
    public func accumulate(shard k: Int, examples n: Int, computing body: (ParameterBuffer) -> OutputLayer.Evaluation) {
        precondition(topSpan.contains(k) && !touched(shard: k), "shard \(k) twice or out of range")
        guard k == topSpan.lowerBound else {
            let buffer = scratch ?? ParameterBuffer(layout: layout)
            scratch = buffer
            let evaluation = body(buffer)
            add(
                shard: k, gradients: buffer.values, examples: n, correct: evaluation.correct,
                lossSum: evaluation.lossSum)
            return
        }
        let evaluation = body(sum)
        let stats = Statistics(examples: n, correct: evaluation.correct, lossSum: evaluation.lossSum)
        let leaf = tree.leaf(k)
        for s in segments.indices where expected[s] {
            covered[s * shardCount + k] = true
            statistics[s * nodeCount + leaf] = stats
            settle(leaf, segment: s, from: .stored(Self.sumSlot))
        }
        examples += n
        correct += evaluation.correct
    }

    // MARK: The tree

    /// Where a node's values for one segment are: in a message, or in the accumulator.
    private enum Values {
        case incoming(UnsafePointer<Float>)
        case stored(Int)
    }

    /// Node `node`'s segment s is known: adds it with its sibling, and on up the tree, as far as
    /// siblings are in; what has no sibling yet waits.
    private func settle(_ node: Int, segment s: Int, from values: Values) {
        var node = node
        var values = values
        while true {
            let index = s * nodeCount + node
            guard node != top, let parent = tree.nodes[node].parent else {
                if case .incoming(let pointer) = values { store(pointer, segment: s, slot: Self.sumSlot) }
                known[index] = true
                complete(segment: s)
                return
            }
            let parentNode = tree.nodes[parent]
            let isLeft = parentNode.left == node
            let sibling = isLeft ? parentNode.right! : parentNode.left!
            guard known[s * nodeCount + sibling] else {
                place[index] = slot(for: node, holding: values, segment: s)
                known[index] = true
                return
            }
            known[index] = true
            let siblingSlot = place[s * nodeCount + sibling]
            let result: Int
            // left + right into the left's place; the right's buffer is free again.
            if isLeft {
                result = slot(for: node, holding: values, segment: s, plus: siblingSlot)
                release(siblingSlot, segment: s)
            } else {
                result = siblingSlot
                addInto(siblingSlot, values, segment: s)
                if case .stored(let own) = values { release(own, segment: s) }
            }
            let left = statistics[s * nodeCount + parentNode.left!]
            let right = statistics[s * nodeCount + parentNode.right!]
            statistics[s * nodeCount + parent] = Statistics(
                examples: left.examples + right.examples, correct: left.correct + right.correct,
                lossSum: left.lossSum + right.lossSum)
            node = parent
            values = .stored(result)
        }
    }

    /// Segment s of the top node is complete.
    private func complete(segment s: Int) {
        segmentsComplete += 1
        if s == firstExpected { lossSum = statistics[s * nodeCount + top].lossSum }
        onSegmentComplete(segments[s])
    }

    /// Takes the updated W, b of `range`, part of the segments summed and updated elsewhere (a
    /// reducer's), with their finiteness marks: handed on to `reset`'s `onReduced`. `values` nil:
    /// they stay where they were computed (`GradientSource.gatherParameters` fetches them). The
    /// caller hands each such range in exactly once a step.
    public func takeReduced(_ range: Range<Int>, values: UnsafePointer<Float>?, marks: UInt32) {
        precondition(reducedIn + range.count <= reducedElsewhere, "more values reduced elsewhere than there are")
        reducedIn += range.count
        onReduced(range, values, marks)
    }

    /// The place for `node`'s values (+ `plus`'s, when given): the sum for a node that starts
    /// the top's span, a pool buffer otherwise; values already stored stay where they are.
    private func slot(for node: Int, holding values: Values, segment s: Int, plus: Int? = nil) -> Int {
        switch values {
        case .stored(let slot):
            if let plus { addInto(slot, .stored(plus), segment: s) }
            return slot
        case .incoming(let pointer):
            let slot = tree.nodes[node].span.lowerBound == topSpan.lowerBound ? Self.sumSlot : take(segment: s)
            let target = self.pointer(slot, segment: s)
            if let plus {
                let right = UnsafePointer(self.pointer(plus, segment: s))
                for i in 0..<segments[s].count { target[i] = pointer[i] + right[i] }
            } else {
                target.update(from: pointer, count: segments[s].count)
            }
            return slot
        }
    }

    /// `slot` += `values`, elementwise over segment s.
    private func addInto(_ slot: Int, _ values: Values, segment s: Int) {
        let target = pointer(slot, segment: s)
        let source: UnsafePointer<Float>
        switch values {
        case .incoming(let pointer): source = pointer
        case .stored(let other): source = UnsafePointer(pointer(other, segment: s))
        }
        for i in 0..<segments[s].count { target[i] += source[i] }
    }

    private func store(_ values: UnsafePointer<Float>, segment s: Int, slot: Int) {
        pointer(slot, segment: s).update(from: values, count: segments[s].count)
    }

    private func pointer(_ slot: Int, segment s: Int) -> UnsafeMutablePointer<Float> {
        slot == Self.sumSlot ? sum.values + segments[s].lowerBound : pool[s][slot]
    }

    /// A free buffer of segment s's size.
    private func take(segment s: Int) -> Int {
        if let slot = free[s].popLast() { return slot }
        pool[s].append(.allocate(capacity: segments[s].count))
        return pool[s].count - 1
    }

    private func release(_ slot: Int, segment s: Int) {
        if slot != Self.sumSlot { free[s].append(slot) }
    }
}
