import Testing

@testable import Core

@Suite struct GradientSegmentTests {
    typealias Piece = GradientSegment.Piece

    /// Fashion-MNIST's network: layers 3 and 2, b1 and W1's last block together; W1's middle two
    /// blocks; W1's first block.
    @Test func segmentsOfTheFashionMNISTNetwork() throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [784, 256, 128, 10], activation: .relu))
        let segments = layout.segments
        #expect(segments.map(\.pieces) == [
            [Piece(layer: 3, part: .layer), Piece(layer: 2, part: .layer), Piece(layer: 1, part: .bias), Piece(layer: 1, part: .weightColumns(588..<784))],
            [Piece(layer: 1, part: .weightColumns(392..<588)), Piece(layer: 1, part: .weightColumns(196..<392))],
            [Piece(layer: 1, part: .weightColumns(0..<196))],
        ])
        #expect(segments.map(\.range) == [
            layout.weightOffsets[1] + 588 * 256..<layout.count, 196 * 256..<588 * 256, 0..<196 * 256,
        ])
        #expect(segments.map(\.range.count) == [84_618, 100_352, 50_176])
    }

    /// The wide network: layer 3 and b2 ride with W2's last block; every other block alone.
    @Test func segmentsOfTheWideNetwork() throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: [784, 1024, 1024, 10], activation: .relu))
        let segments = layout.segments
        #expect(segments.map(\.pieces.count) == [3, 1, 1, 1, 2, 1, 1, 1])
        #expect(segments[0].pieces == [Piece(layer: 3, part: .layer), Piece(layer: 2, part: .bias), Piece(layer: 2, part: .weightColumns(768..<1024))])
        #expect(segments[4].pieces == [Piece(layer: 1, part: .bias), Piece(layer: 1, part: .weightColumns(588..<784))])
    }

    /// For any shape: the segments partition the flat buffer, each value exactly once, going
    /// backwards; each holds at least `blockValues` values but the last; the pieces come last
    /// layer first, a layer cut into at most `maxBlocks` blocks.
    @Test(arguments: [[784, 256, 128, 10], [784, 1024, 1024, 10], [3, 2], [70_000, 1], [257, 255, 300, 2], [300, 600, 20, 3], [1000, 300, 10]])
    func segmentsPartitionTheBuffer(layers: [Int]) throws {
        let layout = ParameterLayout(shape: try NetworkShape(layers: layers, activation: .relu))
        let segments = layout.segments
        var end = layout.count
        for segment in segments {
            #expect(segment.range.upperBound == end, "segments lie backwards, each right before the one ahead")
            end = segment.range.lowerBound
        }
        #expect(end == 0)
        #expect(segments.dropLast().allSatisfy { $0.range.count >= GradientSegment.blockValues })
        let pieces = segments.flatMap(\.pieces)
        #expect(pieces.map(\.layer) == pieces.map(\.layer).sorted(by: >), "last layer first")
        for l in 1..<layers.count {
            let ofLayer = pieces.filter { $0.layer == l }
            #expect(ofLayer.count == 1 || ofLayer.count <= 1 + GradientSegment.maxBlocks && ofLayer.first?.part == .bias)
        }
        // Each segment's range is exactly what its pieces cover.
        for segment in segments {
            let covered = segment.pieces.map { piece -> Int in
                let rows = layers[piece.layer]
                switch piece.part {
                case .layer: return rows * layers[piece.layer - 1] + rows
                case .bias: return rows
                case .weightColumns(let columns): return rows * columns.count
                }
            }.reduce(0, +)
            #expect(covered == segment.range.count)
        }
    }

    /// Backward reports every segment once, in order, and a reported segment's values are final:
    /// what they held when reported is what they hold at the end.
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
                snapshots.append(Array(UnsafeBufferPointer(start: grad.values + segments[segment].range.lowerBound, count: segments[segment].range.count)))
            }
        }
        #expect(reported == Array(segments.indices))
        #expect(segments.count >= 4, "the first layer must be cut")
        for (segment, snapshot) in zip(reported, snapshots) {
            let final = Array(grad.array[segments[segment].range])
            #expect(snapshot.map(\.bitPattern) == final.map(\.bitPattern), "segment \(segment) changed after it was reported")
        }
        #expect(grad.isFinite, "every value written")
    }
}
