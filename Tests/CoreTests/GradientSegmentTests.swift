import Testing

@testable import Core

@Suite struct GradientSegmentTests {
    /// Fashion-MNIST's network: W1 in four blocks; segments of layers 3 and 2 with b1 and W1's
    /// last block, W1's middle two blocks, W1's first block.
    @Test func segmentsOfTheFashionMNISTNetwork() throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [784, 256, 128, 10], activation: .relu))
        #expect(layout.columnBlocks(layer: 1) == [588..<784, 392..<588, 196..<392, 0..<196])
        #expect(layout.columnBlocks(layer: 2) == [0..<256])
        #expect(layout.columnBlocks(layer: 3) == [0..<128])
        let segments = layout.segments
        #expect(
            segments.map(\.range) == [
                layout.weightOffsets[1] + 588 * 256..<layout.count, 196 * 256..<588 * 256, 0..<196 * 256,
            ])
        #expect(segments.map(\.range.count) == [84_618, 100_352, 50_176])
    }

    /// The wide network: layer 3 and b2 ride with W2's last block; every other block alone.
    @Test func segmentsOfTheWideNetwork() throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [784, 1024, 1024, 10], activation: .relu))
        #expect(layout.columnBlocks(layer: 2) == [768..<1024, 512..<768, 256..<512, 0..<256])
        #expect(layout.columnBlocks(layer: 1) == [588..<784, 392..<588, 196..<392, 0..<196])
        let segments = layout.segments
        #expect(segments.count == 8)
        #expect(segments[0].range == layout.weightOffsets[2] + 768 * 1024..<layout.count)
        #expect(segments[4].range == layout.weightOffsets[1] + 588 * 1024..<layout.biasOffsets[1] + 1024)
    }

    /// For any shape: the ranges backprop finishes cover the flat buffer once, from its end; a
    /// layer's W is cut into at most `maxBlocks` column blocks, right to left, and only when it
    /// holds more than `blockValues`; the segments join consecutive finished ranges, each holding
    /// at least `minimumValues` values but the last.
    @Test(arguments: [
        [784, 256, 128, 10], [784, 1024, 1024, 10], [3, 2], [70_000, 1], [257, 255, 300, 2], [300, 600, 20, 3],
        [1000, 300, 10],
    ])
    func segmentsPartitionTheBuffer(layers: [Int]) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: layers, activation: .relu))
        var end = layout.count
        for range in layout.backwardOrder {
            #expect(range.upperBound == end && !range.isEmpty, "each range right before the one finished before it")
            end = range.lowerBound
        }
        #expect(end == 0)
        for l in 1..<layers.count {
            let blocks = layout.columnBlocks(layer: l)
            #expect(blocks.count <= ParameterLayout.maxBlocks)
            #expect((blocks.count > 1) == (layers[l] * layers[l - 1] > ParameterLayout.blockValues))
            #expect(blocks.first?.upperBound == layers[l - 1] && blocks.last?.lowerBound == 0)
            #expect(zip(blocks, blocks.dropFirst()).allSatisfy { $0.lowerBound == $1.upperBound }, "right to left")
        }
        let segments = layout.segments.map(\.range)
        let boundaries = Set(layout.backwardOrder.map(\.lowerBound))
        end = layout.count
        for segment in segments {
            #expect(segment.upperBound == end, "segments lie backwards, each right before the one ahead")
            #expect(boundaries.contains(segment.lowerBound), "a segment ends where a finished range does")
            end = segment.lowerBound
        }
        #expect(end == 0)
        #expect(segments.dropLast().allSatisfy { $0.count >= GradientSegment.minimumValues })
    }

    /// Backward reports every range of the gradient once, in `backwardOrder`, covering the
    /// buffer; each range's values are written when it is reported and never change after.
    @Test(arguments: [[300, 900, 20, 3], [784, 256, 128, 10], [5, 4, 1]])
    func backwardReportsEachFinishedRangeOnceInOrder(layers: [Int]) throws {
        let shape = try NetworkShape(layers: layers, activation: .tanh)
        let p = TestNetworks.randomParameters(shape, seed: 6, scale: 0.2)
        let classes = TestNetworks.classes(outputs: layers.last!)
        let batch = ExampleBatch(features: layers[0], count: 7, classes: classes, seed: 6)
        let grad = ParameterBuffer(layout: p.layout)
        grad.fill(.nan)
        let workspace = Workspace(shape: shape)
        var reported: [Range<Int>] = []
        var snapshots: [[Float]] = []
        batch.labels.withUnsafeBufferPointer { labels in
            Network.forward(
                p, input: batch.features.storage, count: batch.count, labels: labels.baseAddress!, workspace: workspace)
            Network.backward(
                p, input: batch.features.storage, count: batch.count, labels: labels.baseAddress!, workspace: workspace,
                into: grad
            ) { range in
                reported.append(range)
                snapshots.append(Array(UnsafeBufferPointer(start: grad.values + range.lowerBound, count: range.count)))
            }
        }
        #expect(reported == p.layout.backwardOrder)
        #expect(reported.map(\.count).reduce(0, +) == p.layout.count)
        for (range, snapshot) in zip(reported, snapshots) {
            #expect(!snapshot.contains { $0.isNaN }, "range \(range) reported before it was written")
            #expect(
                snapshot.map(\.bitPattern) == grad.array[range].map(\.bitPattern),
                "range \(range) changed after it was reported")
        }
        #expect(grad.isFinite, "every value written")
    }

    /// Backward through `gradientSum` reports every segment once, in order, and a reported
    /// segment's values are final: what they held when reported is what they hold at the end.
    @Test func reportedSegmentsAreFinal() throws {
        let shape = try NetworkShape(layers: [300, 900, 20, 3], activation: .tanh)
        let p = TestNetworks.randomParameters(shape, seed: 5, scale: 0.2)
        let batch = ExampleBatch(features: 300, count: 11, classes: 3, seed: 5)
        let grad = ParameterBuffer(layout: p.layout)
        grad.fill(.nan)
        let segments = p.layout.segments
        var reported: [Int] = []
        var snapshots: [[Float]] = []
        batch.labels.withUnsafeBufferPointer { labels in
            _ = Network.gradientSum(
                p, input: batch.features.storage, count: batch.count, labels: labels.baseAddress!,
                workspace: Workspace(shape: shape), into: grad
            ) { segment, _ in
                reported.append(segment)
                let range = segments[segment].range
                snapshots.append(Array(UnsafeBufferPointer(start: grad.values + range.lowerBound, count: range.count)))
            }
        }
        #expect(reported == Array(segments.indices))
        #expect(segments.count >= 4, "the first layer must be cut")
        for (segment, snapshot) in zip(reported, snapshots) {
            let final = Array(grad.array[segments[segment].range])
            #expect(
                snapshot.map(\.bitPattern) == final.map(\.bitPattern),
                "segment \(segment) changed after it was reported")
        }
        #expect(grad.isFinite, "every value written")
    }

    /// The tracker reports a segment only once every value of it is final, and then at once:
    /// ranges that cover a segment in part report nothing; the range that completes two reports
    /// both, in order.
    @Test func aSegmentIsReportedOnlyOnceAllOfItIsFinal() {
        var tracker = SegmentTracker(segments: [60..<100, 20..<60, 0..<20], count: 100)
        var reported: [Int] = []
        tracker.finished(90..<100) { reported.append($0) }
        #expect(reported == [], "10 of segment 0's 40 values are final")
        tracker.finished(60..<90) { reported.append($0) }
        #expect(reported == [0])
        tracker.finished(59..<60) { reported.append($0) }
        #expect(reported == [0], "one value of segment 1 is not enough")
        tracker.finished(0..<59) { reported.append($0) }
        #expect(reported == [0, 1, 2])
    }

    /// An empty batch still reports every segment, its zeroes final.
    @Test func anEmptyBatchReportsEverySegment() throws {
        let shape = try NetworkShape(layers: [300, 900, 20, 3], activation: .relu)
        let p = TestNetworks.randomParameters(shape, seed: 5)
        let grad = ParameterBuffer(layout: p.layout)
        grad.fill(.nan)
        var reported: [Int] = []
        let x = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { x.deallocate() }
        let labels: [Int32] = [0]
        labels.withUnsafeBufferPointer { labels in
            _ = Network.gradientSum(
                p, input: x, count: 0, labels: labels.baseAddress!, workspace: Workspace(shape: shape), into: grad
            ) { segment, _ in reported.append(segment) }
        }
        #expect(reported == Array(p.layout.segments.indices))
        #expect(grad.array.allSatisfy { $0 == 0 })
    }
}
