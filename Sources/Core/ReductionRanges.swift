/// The flat parameter vector cut into S contiguous ranges, each reduced and updated by one
/// process (`--reducers S`, issue 21): range 0 by the coordinator, range r ≥ 1 by reducer r. The
/// optimizer is elementwise and the reduction tree adds each value on its own, so where a range
/// is cut changes no bit of the result: only which process computes it.
///
/// A worker sends each gradient segment (`ParameterLayout.segments`) as it finishes, cut at the
/// boundaries into *pieces*, each to its range's owner; a piece's index in `pieces` is what a
/// PARTIAL's segment field names. With one range the pieces are the segments.
public struct ReductionRanges: Sendable, Equatable {
    /// S + 1 offsets: 0 first, the parameter count last, strictly increasing.
    public let boundaries: [Int]
    /// The segments cut at the boundaries, in the order backprop finishes them.
    public let pieces: [GradientPiece]

    /// Ranges start on a multiple of this many values (64 bytes), so that no cache line, and no
    /// vector of the optimizer's kernels, is split between two processes' ranges.
    public static let alignment = 16

    /// S ranges of about equal length over `layout`.
    public init(layout: ParameterLayout, count s: Int) {
        precondition(s >= 1, "at least one range")
        let n = layout.count
        var boundaries = [0]
        for r in 1..<s {
            let cut = (n * r / s) / Self.alignment * Self.alignment
            if cut > boundaries.last! && cut < n { boundaries.append(cut) }
        }
        boundaries.append(n)
        self.init(layout: layout, checkedBoundaries: boundaries)
    }

    /// The ranges `boundaries` name (from a message): nil unless they start at 0, end at the
    /// parameter count and increase strictly.
    public init?(layout: ParameterLayout, boundaries: [Int]) {
        guard boundaries.count >= 2, boundaries.first == 0, boundaries.last == layout.count,
            zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 < $1 })
        else { return nil }
        self.init(layout: layout, checkedBoundaries: boundaries)
    }

    private init(layout: ParameterLayout, checkedBoundaries boundaries: [Int]) {
        self.boundaries = boundaries
        var pieces: [GradientPiece] = []
        for (index, segment) in layout.segments.enumerated() {
            for owner in 0..<boundaries.count - 1 {
                let lower = max(segment.range.lowerBound, boundaries[owner])
                let upper = min(segment.range.upperBound, boundaries[owner + 1])
                if lower < upper { pieces.append(GradientPiece(range: lower..<upper, segment: index, owner: owner)) }
            }
        }
        self.pieces = pieces
    }

    /// S.
    public var count: Int { boundaries.count - 1 }

    /// Range r of the flat vector.
    public func range(_ r: Int) -> Range<Int> { boundaries[r]..<boundaries[r + 1] }

    /// The indices in `pieces` of range r's pieces.
    public func pieces(of r: Int) -> [Int] { pieces.indices.filter { pieces[$0].owner == r } }

    /// The indices in `pieces` of segment s's pieces, in order.
    public func pieces(inSegment s: Int) -> [Int] { pieces.indices.filter { pieces[$0].segment == s } }
}

/// A stretch of one gradient segment inside one reduction range: the unit a worker sends.
public struct GradientPiece: Sendable, Equatable {
    /// Where it lies in the flat buffer.
    public let range: Range<Int>
    /// The segment (`ParameterLayout.segments`) it is cut from.
    public let segment: Int
    /// The range (`ReductionRanges`) it belongs to: 0 the coordinator's, r ≥ 1 reducer r's.
    public let owner: Int
}
