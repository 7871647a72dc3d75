extension CurvePlot {
    /// How many of its points a series is drawn with at most: enough for any screen, few enough
    /// that a 10,000-step run stays a small file.
    static let pointLimit = 2_000

    /// The moving-average window for a series of `count` points: about 1% of them.
    static func smoothingWindow(count: Int) -> Int {
        max(1, Int((Double(count) / 100).rounded()))
    }

    /// Each point replaced by the mean of the `window` points centred on it (fewer at the ends),
    /// so the smoothed curve does not lag the steps it describes.
    static func movingAverage(_ points: [Point], window: Int) -> [Point] {
        guard window > 1 else { return points }
        var prefix = [0.0]
        prefix.reserveCapacity(points.count + 1)
        for point in points { prefix.append(prefix.last! + point.value) }
        let before = (window - 1) / 2
        let after = window / 2
        return points.indices.map { i in
            let first = max(0, i - before)
            let last = min(points.count - 1, i + after)
            return Point(step: points[i].step, value: (prefix[last + 1] - prefix[first]) / Double(last - first + 1))
        }
    }

    /// At most `limit` of the points: the lowest and the highest of each of `limit / 2` runs of
    /// consecutive points, in step order, so spikes survive where plain striding would drop them.
    static func decimated(_ points: [Point], limit: Int = pointLimit) -> [Point] {
        guard points.count > limit else { return points }
        let buckets = limit / 2
        var kept: [Point] = []
        kept.reserveCapacity(limit)
        for bucket in 0..<buckets {
            let range = (bucket * points.count / buckets)..<((bucket + 1) * points.count / buckets)
            let low = range.min { points[$0].value < points[$1].value }!
            let high = range.max { points[$0].value < points[$1].value }!
            for index in Set([low, high]).sorted() { kept.append(points[index]) }
        }
        return kept
    }
}
