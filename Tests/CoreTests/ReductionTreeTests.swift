import Foundation
import Testing

@testable import Core

/// The reference the tree is checked against, written apart from it: the sum over shards a…b−1
/// is the sum over a…a+p−1 plus the sum over a+p…b−1, p the largest power of two below b − a.
private func treeSum<T>(_ values: [T], _ span: Range<Int>, add: (T, T) -> T) -> T {
    guard span.count > 1 else { return values[span.lowerBound] }
    var p = 1
    while 2 * p < span.count { p *= 2 }
    let mid = span.lowerBound + p
    return add(treeSum(values, span.lowerBound..<mid, add: add), treeSum(values, mid..<span.upperBound, add: add))
}

private func treeSum(_ g: [[Float]]) -> [Float] {
    treeSum(g, 0..<g.count) { a, b in zip(a, b).map { $0 + $1 } }
}

private func treeSum(_ losses: [Double]) -> Double {
    treeSum(losses, 0..<losses.count) { $0 + $1 }
}

/// Values whose magnitudes span many binades, so that another order of addition rounds differently.
/// A Fisher–Yates shuffle driven by the run's generator, so a seed gives one order.
private func shuffled<T>(_ items: [T], _ rng: inout Xoshiro256) -> [T] {
    var items = items
    for i in items.indices.reversed() { items.swapAt(i, rng.next(below: i + 1)) }
    return items
}

private func scattered(_ count: Int, _ rng: inout Xoshiro256) -> [Float] {
    (0..<count).map { _ in Float((rng.nextUnit() - 0.5) * pow(10.0, Double(rng.next(below: 8) - 3))) }
}

@Suite struct ReductionTreeTests {
    @Test func splitsAtTheLargestPowerOfTwoBelowTheCount() {
        #expect(ReductionTree.split(0..<2) == 1)
        #expect(ReductionTree.split(0..<3) == 2)
        #expect(ReductionTree.split(0..<4) == 2)
        #expect(ReductionTree.split(0..<5) == 4)
        #expect(ReductionTree.split(0..<8) == 4)
        #expect(ReductionTree.split(8..<12) == 10)
        #expect(ReductionTree.split(0..<12) == 8)
        #expect(ReductionTree.split(3..<1003) == 3 + 512)
    }

    /// 2K − 1 nodes, each the union of its children, children before parents.
    @Test(arguments: [1, 2, 3, 5, 8, 12, 13, 64, 100])
    func everyNodeIsItsChildrensUnion(shards: Int) {
        let tree = ReductionTree(shards: shards)
        #expect(tree.nodes.count == 2 * shards - 1)
        #expect(tree.nodes[tree.root].span == 0..<shards && tree.nodes[tree.root].parent == nil)
        for (index, node) in tree.nodes.enumerated() {
            #expect(tree.node(node.span) == index)
            if let left = node.left, let right = node.right {
                #expect(left < index && right < index)
                #expect(tree.nodes[left].span.lowerBound == node.span.lowerBound)
                #expect(tree.nodes[left].span.upperBound == tree.nodes[right].span.lowerBound)
                #expect(tree.nodes[right].span.upperBound == node.span.upperBound)
                #expect(tree.nodes[left].parent == index && tree.nodes[right].parent == index)
            } else {
                #expect(node.span.count == 1 && tree.leaf(node.span.lowerBound) == index)
            }
        }
    }

    /// Every aligned block of 2ʲ shards is a node, whatever K: with 4 shards a worker
    /// (`--shards auto`) every worker's block is one vector.
    @Test(arguments: [4, 6, 8, 12, 20, 24, 33])
    func alignedBlocksAreNodes(shards: Int) {
        let tree = ReductionTree(shards: shards)
        var size = 1
        while size <= shards {
            for start in stride(from: 0, through: shards - size, by: size) {
                #expect(tree.node(start..<start + size) != nil, "\(start)..<\(start + size) of \(shards)")
            }
            size *= 2
        }
        if shards >= 8 { #expect(tree.cover(4..<8) == [4..<8]) }
    }

    @Test func coverTakesTheLargestNodesFilled() {
        let eight = ReductionTree(shards: 8)
        #expect(eight.cover(0..<8) == [0..<8])
        #expect(eight.cover([0, 1, 2, 3]) == [0..<4])
        #expect(eight.cover([1, 2, 3, 4]) == [1..<2, 2..<4, 4..<5])
        #expect(eight.cover([7, 0, 6]) == [0..<1, 6..<8])
        #expect(eight.cover([]) == [])
        let six = ReductionTree(shards: 6)
        #expect(six.cover(0..<3) == [0..<2, 2..<3])
        #expect(six.cover(3..<6) == [3..<4, 4..<6])
        #expect(ReductionTree(shards: 12).cover(8..<12) == [8..<12])
    }
}

@Suite struct GradientAccumulatorTests {
    /// A 2-3-2 network: 17 values per partial.
    private let layout = ParameterLayout(shape: try! NetworkShape(layers: [2, 3, 2], activation: .tanh))
    private let shards = 5

    private func partials(_ count: Int = 5, seed: UInt64 = 77) -> [[Float]] {
        var rng = Xoshiro256(seed: seed)
        return (0..<count).map { _ in scattered(layout.count, &rng) }
    }

    private let stats: [(examples: Int, correct: Int, loss: Double)] = [
        (21, 5, 0.1), (20, 9, 1e10), (22, 0, -1e10), (20, 20, 3.3), (19, 1, 1e-7),
    ]

    /// Any arrival order gives the bits of the tree's sum, and the right totals.
    @Test(arguments: [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [1, 2, 3, 4, 0], [0, 4, 3, 2, 1]])
    func arrivalOrderDoesNotChangeBits(order: [Int]) {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        for k in order {
            #expect(!accumulator.has(shard: k))
            #expect(!accumulator.isComplete)
            g[k].withUnsafeBufferPointer { values in
                accumulator.add(
                    shard: k, gradients: values.baseAddress!, examples: stats[k].examples,
                    correct: stats[k].correct, lossSum: stats[k].loss)
            }
            #expect(accumulator.has(shard: k))
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array.map(\.bitPattern) == treeSum(g).map(\.bitPattern))
        #expect(accumulator.examples == 102)
        #expect(accumulator.correct == 35)
        #expect(accumulator.lossSum.bitPattern == treeSum(stats.map(\.loss)).bitPattern)
    }

    /// The check above is only meaningful if other orders gave other bits: shard order, and the
    /// tree's mirror image.
    @Test func otherOrdersWouldRoundDifferently() {
        let g = partials()
        var shardOrder = g[0]
        for k in 1..<shards { for i in shardOrder.indices { shardOrder[i] += g[k][i] } }
        #expect(shardOrder.map(\.bitPattern) != treeSum(g).map(\.bitPattern))
        let losses = stats.map(\.loss)
        #expect(losses.reduce(0, +).bitPattern != treeSum(losses).bitPattern)
        let mirrored = treeSum(Array(g.reversed()))
        #expect(mirrored.map(\.bitPattern) != treeSum(g).map(\.bitPattern))
    }

    /// `accumulate` (the partial computed into the accumulator's own buffer: the sum itself for
    /// shard 0) gives the bits `add` gives, in any arrival order and mixed with `add`.
    @Test(arguments: [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]])
    func accumulateInPlaceMatchesAdd(order: [Int]) {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        for k in order {
            if k % 2 == 0 {
                accumulator.accumulate(shard: k, examples: stats[k].examples) { buffer in
                    buffer.copy(from: g[k])
                    var evaluation = OutputLayer.Evaluation()
                    evaluation.correct = stats[k].correct
                    evaluation.lossSum = stats[k].loss
                    return evaluation
                }
            } else {
                g[k].withUnsafeBufferPointer { values in
                    accumulator.add(
                        shard: k, gradients: values.baseAddress!, examples: stats[k].examples,
                        correct: stats[k].correct, lossSum: stats[k].loss)
                }
            }
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array.map(\.bitPattern) == treeSum(g).map(\.bitPattern))
        #expect(accumulator.examples == 102 && accumulator.correct == 35)
        #expect(accumulator.lossSum.bitPattern == treeSum(stats.map(\.loss)).bitPattern)
    }

    /// Partials arriving segment by segment, shards and segments interleaved in any order, sum
    /// to the bits of whole partials; each segment is reported once, when its sum is complete.
    @Test(arguments: [UInt64(1), 2, 3])
    func segmentsInAnyOrderGiveTheTreesBits(seed: UInt64) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [300, 900, 20, 3], activation: .relu))
        let shards = 6
        var rng = Xoshiro256(seed: seed)
        let g: [[Float]] = (0..<shards).map { _ in scattered(layout.count, &rng) }
        let pieces = GradientAccumulator(layout: layout, shards: shards)
        var arrivals = (0..<shards).flatMap { k in pieces.segments.indices.map { (k, $0) } }
        for i in arrivals.indices.reversed() { arrivals.swapAt(i, rng.next(below: i + 1)) }
        #expect(pieces.segments.count >= 4)
        let expected = treeSum(g)
        var reported: [Range<Int>] = []
        pieces.reset { range in
            reported.append(range)
            #expect(Array(pieces.sum.array[range]).map(\.bitPattern) == Array(expected[range]).map(\.bitPattern))
        }
        for (k, s) in arrivals {
            let lastOfSegment = (0..<shards).allSatisfy { $0 == k || pieces.has(shard: $0, segment: s) }
            let before = reported.count
            #expect(!pieces.isComplete && !pieces.has(shard: k, segment: s))
            g[k].withUnsafeBufferPointer {
                pieces.add(
                    shard: k, segment: s, values: $0.baseAddress! + pieces.segments[s].lowerBound,
                    examples: k + 1, correct: k, lossSum: Double(k) / 3)
            }
            #expect(reported.count == before + (lastOfSegment ? 1 : 0))
            if lastOfSegment { #expect(reported.last == pieces.segments[s]) }
        }
        #expect(pieces.isComplete)
        #expect(
            reported.sorted { $0.lowerBound < $1.lowerBound }
                == pieces.segments.sorted { $0.lowerBound < $1.lowerBound })
        #expect(pieces.sum.array.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(pieces.examples == 21 && pieces.correct == 15)
        #expect(pieces.lossSum.bitPattern == treeSum((0..<shards).map { Double($0) / 3 }).bitPattern)
    }

    /// Shards spread over "workers" at random: each adds the nodes its shards fill in an
    /// accumulator of its own (`top`), and the coordinator takes those nodes, segment by segment,
    /// in any order. Same bits as every shard sent alone: the tree does not care where it was added.
    @Test(arguments: [(UInt64(1), 8, 2), (2, 12, 3), (3, 13, 4), (4, 7, 2), (5, 16, 5)])
    func nodesAddedElsewhereGiveTheSameBits(seed: UInt64, shards: Int, workers: Int) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [300, 900, 20, 3], activation: .relu))
        var rng = Xoshiro256(seed: seed)
        let g: [[Float]] = (0..<shards).map { _ in scattered(layout.count, &rng) }
        let losses = (0..<shards).map { _ in rng.nextUnit() * pow(10, Double(rng.next(below: 6))) }
        // Aligned blocks for even seeds, scattered shards for odd ones.
        let owner = (0..<shards).map { seed % 2 == 0 ? $0 * workers / shards : rng.next(below: workers) }
        let coordinator = GradientAccumulator(layout: layout, shards: shards)
        var messages: [(span: Range<Int>, segment: Int, values: [Float], stats: GradientAccumulator.Statistics)] = []
        for w in 0..<workers {
            let held = (0..<shards).filter { owner[$0] == w }
            for node in coordinator.tree.cover(held) {
                guard node.count > 1 else {
                    let k = node.lowerBound
                    for (s, range) in coordinator.segments.enumerated() {
                        messages.append(
                            (node, s, Array(g[k][range]), .init(examples: 1, correct: 0, lossSum: losses[k])))
                    }
                    continue
                }
                let local = GradientAccumulator(layout: layout, shards: shards, top: node)
                #expect(local.topSpan == node)
                var sent: [Int: [Float]] = [:]
                local.reset { range in sent[coordinator.segments.firstIndex(of: range)!] = Array(local.sum.array[range])
                }
                for k in shuffled(Array(node), &rng) {
                    g[k].withUnsafeBufferPointer {
                        local.add(shard: k, gradients: $0.baseAddress!, examples: 1, correct: 0, lossSum: losses[k])
                    }
                }
                #expect(local.isComplete && sent.count == coordinator.segments.count)
                #expect(local.examples == node.count)
                for (s, values) in sent { messages.append((node, s, values, local.statistics(segment: s))) }
            }
        }
        for message in shuffled(messages, &rng) {
            #expect(!coordinator.overlaps(message.span, segment: message.segment))
            message.values.withUnsafeBufferPointer {
                coordinator.add(
                    message.span, segment: message.segment, values: $0.baseAddress!, statistics: message.stats)
            }
        }
        #expect(coordinator.isComplete && coordinator.examples == shards)
        #expect(coordinator.sum.array.map(\.bitPattern) == treeSum(g).map(\.bitPattern))
        #expect(coordinator.lossSum.bitPattern == treeSum(losses).bitPattern)
    }

    /// A whole partial added after some of its segments came on their own (the coordinator's
    /// own computation of a shard whose worker failed midway) adds only the segments not yet in:
    /// those that came first keep their values, here distinguishable (×7).
    @Test(arguments: [[0], [1], [0, 2]])
    func aWholePartialAddsTheSegmentsNotYetIn(segmentsFirst: [Int]) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [300, 900, 20, 3], activation: .relu))
        var rng = Xoshiro256(seed: 9)
        let g: [[Float]] = (0..<2).map { _ in scattered(layout.count, &rng) }
        let accumulator = GradientAccumulator(layout: layout, shards: 2)
        #expect(accumulator.segments.count >= 3)
        for s in segmentsFirst {
            let fromWorker = g[1].map { $0 * 7 }
            fromWorker.withUnsafeBufferPointer {
                accumulator.add(
                    shard: 1, segment: s, values: $0.baseAddress! + accumulator.segments[s].lowerBound,
                    examples: 1, correct: 0, lossSum: 0)
            }
        }
        #expect(accumulator.touched(shard: 1) && !accumulator.has(shard: 1) && !accumulator.touched(shard: 0))
        for k in [1, 0] {
            g[k].withUnsafeBufferPointer {
                accumulator.add(shard: k, gradients: $0.baseAddress!, examples: 1, correct: 0, lossSum: 0)
            }
        }
        #expect(accumulator.isComplete)
        var expected = zip(g[0], g[1]).map { $0 + $1 }
        for s in segmentsFirst {
            for i in accumulator.segments[s] { expected[i] = g[0][i] + g[1][i] * 7 }
        }
        #expect(accumulator.sum.array.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// After `reset`, nothing of the previous step remains: a step fed in another order, with
    /// other partials, sums only those.
    @Test func resetStartsAFreshStep() {
        let g = partials()
        let accumulator = GradientAccumulator(layout: layout, shards: shards)
        for k in [3, 1, 4, 0, 2] {
            g[k].withUnsafeBufferPointer {
                accumulator.add(shard: k, gradients: $0.baseAddress!, examples: 1, correct: 1, lossSum: 1)
            }
        }
        accumulator.reset()
        #expect((0..<shards).allSatisfy { !accumulator.touched(shard: $0) })
        #expect(accumulator.examples == 0 && accumulator.correct == 0 && accumulator.lossSum == 0)
        let second = g.map { $0.map { $0 * -3 } }
        for k in [4, 2, 0, 3, 1] {
            second[k].withUnsafeBufferPointer {
                accumulator.add(shard: k, gradients: $0.baseAddress!, examples: 2, correct: 0, lossSum: 0.5)
            }
        }
        #expect(accumulator.isComplete)
        #expect(accumulator.sum.array.map(\.bitPattern) == treeSum(second).map(\.bitPattern))
        #expect(accumulator.examples == 10 && accumulator.correct == 0 && accumulator.lossSum == 2.5)
    }
}
