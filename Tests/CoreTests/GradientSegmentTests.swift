import Testing

@testable import Core

@Suite struct GradientSegmentTests {
    /// Fashion-MNIST's network: layers 3 and 2 whole, then b1 and W1 in four column blocks.
    @Test func segmentsOfTheFashionMNISTNetwork() throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [784, 256, 128, 10], activation: .relu))
        let segments = layout.segments
        #expect(segments.map(\.layer) == [3, 2, 1, 1, 1, 1, 1])
        #expect(segments[0].part == .layer && segments[1].part == .layer && segments[2].part == .bias)
        #expect(segments[3...].map(\.part) == [
            .weightColumns(0..<196), .weightColumns(196..<392), .weightColumns(392..<588), .weightColumns(588..<784),
        ])
        #expect(segments.allSatisfy { $0.range.count <= GradientSegment.blockValues || $0.part == .layer })
    }

    /// For any shape, the segments partition the flat buffer, each value exactly once.
    @Test(arguments: [[784, 256, 128, 10], [784, 1024, 1024, 10], [3, 2], [70_000, 1], [257, 255, 300, 2]])
    func segmentsPartitionTheBuffer(layers: [Int]) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: layers, activation: .relu))
        var covered = [Int](repeating: 0, count: layout.count)
        for segment in layout.segments { for i in segment.range { covered[i] += 1 } }
        #expect(covered.allSatisfy { $0 == 1 })
        #expect(layout.segments.map(\.layer) == layout.segments.map(\.layer).sorted(by: >), "last layer first")
        for l in 1..<layers.count {
            #expect(layout.segments.filter { $0.layer == l }.count <= 1 + GradientSegment.maxBlocks)
        }
    }

    /// Backward reports every segment once, in order, and a reported segment's values are final:
    /// what they held when reported is what they hold at the end.
    @Test func reportedSegmentsAreFinal() throws {
        let shape = try NetworkShape(layers: [300, 260, 20, 3], activation: .tanh)
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
                snapshots.append(Array(UnsafeBufferPointer(start: grad.values + segments[segment].range.lowerBound, count: segments[segment].range.count)))
            }
        }
        #expect(reported == Array(segments.indices))
        #expect(segments.count > 4, "the first layer must be cut")
        for (segment, snapshot) in zip(reported, snapshots) {
            let final = Array(grad.array[segments[segment].range])
            #expect(snapshot.map(\.bitPattern) == final.map(\.bitPattern), "segment \(segment) changed after it was reported")
        }
        #expect(grad.isFinite, "every value written")
    }
}
