import Foundation

extension CurvePlot {
    /// One axis: the value range it shows and its ticks at 1-2-5 multiples of a power of ten
    /// (Heckbert, "Nice numbers for graph labels", *Graphics Gems*, 1990).
    struct Axis {
        let lower: Double
        let upper: Double
        /// The distance between ticks: 1, 2 or 5 × 10^k.
        let spacing: Double
        let ticks: [Double]

        /// An axis covering `values`, with about `intervals` tick intervals.
        ///
        /// - Parameters:
        ///   - snapUpper: extend the top to a tick (y axes); otherwise it ends at the data (the
        ///     step axis, so a run fills the panel's width).
        ///   - padding: a fraction of the span added beyond the data (below it only when zero
        ///     is not already the floor), so a curve at its extreme does not run along the frame.
        ///   - minimumSpacing: steps are whole numbers, so their ticks are at least 1 apart.
        ///   - limits: a range the ticks never leave (accuracy lies in [0, 1]); the axis reaches
        ///     just past a limit the data touches, for the same reason as `padding`.
        init(
            covering values: [Double], intervals: Int, includingZero: Bool = false, snapUpper: Bool = true,
            padding: Double = 0, minimumSpacing: Double = 0, limits: ClosedRange<Double>? = nil
        ) {
            var low = values.min() ?? 0
            var high = values.max() ?? 1
            if includingZero {
                low = min(low, 0)
                high = max(high, 0)
            }
            if high <= low {
                // One value: widen around it, so the scale has no zero span to divide by.
                if low == 0 {
                    high = 1
                } else {
                    (low, high) = (low - abs(low) * 0.1, high + abs(high) * 0.1)
                }
            }
            let span = high - low
            high += span * padding
            if !(includingZero && low == 0) { low -= span * padding }

            let spacing = max(Self.niceNumber((high - low) / Double(intervals)), minimumSpacing)
            var lower = (low / spacing).rounded(.down) * spacing
            var upper = snapUpper ? (high / spacing).rounded(.up) * spacing : high
            var (tickLower, tickUpper) = (lower, upper)
            if let limits {
                (tickLower, tickUpper) = (max(lower, limits.lowerBound), min(upper, limits.upperBound))
                let margin = (tickUpper - tickLower) * 0.02
                if lower < limits.lowerBound { lower = limits.lowerBound - margin }
                if upper > limits.upperBound { upper = limits.upperBound + margin }
            }
            let first = Int((tickLower / spacing - 1e-9).rounded(.up))
            let last = Int((tickUpper / spacing + 1e-9).rounded(.down))
            self.lower = lower
            self.upper = upper
            self.spacing = spacing
            self.ticks = first <= last ? (first...last).map { Double($0) * spacing } : []
        }

        /// The 1, 2, 5 or 10 × 10^k nearest to `x` (x > 0).
        static func niceNumber(_ x: Double) -> Double {
            let power = pow(10, (log10(x)).rounded(.down))
            let fraction = x / power
            let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
            return nice * power
        }

        /// Where `value` falls between `start` (the lower end) and `end` (the upper end).
        func position(_ value: Double, from start: Double, to end: Double) -> Double {
            start + (value - lower) / (upper - lower) * (end - start)
        }

        /// A tick's label with just the decimals the spacing needs: 0.05 → "0.35", 2000 → "4000";
        /// thousands become "k" once labels reach five digits.
        func label(_ tick: Double) -> String {
            if upper >= 10_000, spacing >= 1_000, tick != 0 {
                return Self.fixed(tick / 1_000, decimals: Self.decimals(spacing / 1_000)) + "k"
            }
            if max(abs(lower), abs(upper)) >= 1e7 || spacing < 1e-4 {
                return String(format: "%.1e", tick)
            }
            return Self.fixed(tick, decimals: Self.decimals(spacing))
        }

        private static func decimals(_ spacing: Double) -> Int {
            max(0, -Int((log10(spacing) + 1e-9).rounded(.down)))
        }

        private static func fixed(_ value: Double, decimals: Int) -> String {
            String(format: "%.\(decimals)f", value)
        }
    }

    /// Light grid lines, tick labels, axis titles and the frame of one panel, under its curves.
    func axesSVG(x: Axis, y: Axis, frame: Frame, yTitle: String) -> String {
        let (left, top, right, bottom) = (
            Self.format(frame.left), Self.format(frame.top), Self.format(frame.right), Self.format(frame.bottom)
        )
        let ink = "font-size=\"\(Style.tickFont)\" fill=\"\(Style.ink)\""
        var svg = "<g class=\"axes\">\n"
        for tick in x.ticks {
            let px = Self.format(x.position(tick, from: frame.left, to: frame.right))
            svg += "<line x1=\"\(px)\" y1=\"\(top)\" x2=\"\(px)\" y2=\"\(bottom)\" stroke=\"\(Style.grid)\"/>\n"
            svg +=
                "<text x=\"\(px)\" y=\"\(Self.format(frame.bottom + 20))\" text-anchor=\"middle\" \(ink)>\(x.label(tick))</text>\n"
        }
        for tick in y.ticks {
            let py = Self.format(y.position(tick, from: frame.bottom, to: frame.top))
            svg += "<line x1=\"\(left)\" y1=\"\(py)\" x2=\"\(right)\" y2=\"\(py)\" stroke=\"\(Style.grid)\"/>\n"
            svg +=
                "<text x=\"\(Self.format(frame.left - 8))\" y=\"\(py)\" dy=\"0.35em\" text-anchor=\"end\" \(ink)>\(y.label(tick))</text>\n"
        }
        svg +=
            "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(Self.format(frame.width))\" height=\"\(Self.format(frame.height))\" fill=\"none\" stroke=\"\(Style.frame)\"/>\n"
        let titleFont = "font-size=\"\(Style.axisTitleFont)\" fill=\"\(Style.ink)\""
        let centreX = Self.format((frame.left + frame.right) / 2)
        let centreY = Self.format((frame.top + frame.bottom) / 2)
        svg +=
            "<text x=\"\(centreX)\" y=\"\(Self.format(frame.bottom + 44))\" text-anchor=\"middle\" \(titleFont)>step</text>\n"
        let titleX = Self.format(frame.left - Layout.yTitleOffset)
        svg +=
            "<text x=\"\(titleX)\" y=\"\(centreY)\" text-anchor=\"middle\" \(titleFont) transform=\"rotate(-90 \(titleX) \(centreY))\">\(yTitle)</text>\n"
        return svg + "</g>\n"
    }
}
