import Core
import Foundation

/// Loss and accuracy against step for one or more training runs, as one self-contained SVG.
///
/// The left panel holds train loss (every step) and test loss (every evaluation); the right one
/// train accuracy, smoothed by a moving average over about 1% of the steps, and test accuracy.
/// Runs overlay in distinct hues; train curves are light solid lines, test curves dark dashed lines
/// through circles.
struct CurvePlot {
    struct Point: Equatable {
        var step: Double
        var value: Double
    }

    /// One run's four curves, each in step order.
    struct Run {
        var name: String
        var trainLoss: [Point]
        var trainAccuracy: [Point]
        var testLoss: [Point]
        var testAccuracy: [Point]
    }

    var title: String
    var runs: [Run]

    static let defaultTitle = "Training curves"

    /// Reads the metrics files and writes their curves to `path` atomically (`AtomicFile`):
    /// on any error nothing is written.
    ///
    /// Each file is one run, named in the legend by its file name (by its path as given when
    /// two files share a name).
    static func write(metricsFiles: [String], to path: String, title: String = defaultTitle) throws {
        let fileNames = metricsFiles.map { ($0 as NSString).lastPathComponent }
        let names = fileNames.indices.map { i in
            fileNames.filter { $0 == fileNames[i] }.count > 1 ? metricsFiles[i] : fileNames[i]
        }
        let runs = try zip(metricsFiles, names).map { try Run(metricsFile: $0, name: $1) }
        let plot = CurvePlot(title: title, runs: runs)
        do {
            try AtomicFile.write(Data(plot.svg().utf8), to: path)
        } catch {
            throw CurvePlotError.writeFailed(file: path, reason: error.description)
        }
    }

    // MARK: Drawing

    /// Colours, strokes and fonts.
    enum Style {
        /// ColorBrewer's "Paired" and a few more pairs: one hue per run, light for the noisy train
        /// curve underneath and dark for the few test points drawn over it.
        static let palette: [(train: String, test: String)] = [
            ("#a6cee3", "#1f78b4"), ("#fdbf6f", "#ff7f00"), ("#b2df8a", "#33a02c"), ("#fb9a99", "#e31a1c"),
            ("#cab2d6", "#6a3d9a"),
            ("#dfc27d", "#8c510a"), ("#f1b6da", "#c51b7d"), ("#80cdc1", "#01665e"), ("#bababa", "#4d4d4d"),
        ]
        static let ink = "#222"
        static let grid = "#e6e6e6"
        static let frame = "#888"
        static let font = "DejaVu Sans, Helvetica, Arial, sans-serif"
        static let titleFont = 18
        static let axisTitleFont = 13
        static let tickFont = 12
        static let legendFont = 13
        static let testDash = "6 4"

        static func trainColour(_ run: Int) -> String { palette[run % palette.count].train }
        static func testColour(_ run: Int) -> String { palette[run % palette.count].test }
    }

    /// Positions in SVG user units (pixels at 100%).
    enum Layout {
        static let width = 960.0
        static let panelWidth = width / 2
        static let frameTop = 56.0
        static let frameHeight = 300.0
        static let frameLeftInset = 76.0
        static let frameRightInset = 20.0
        static let yTitleOffset = 54.0
        static let legendTop = frameTop + frameHeight + 66
        static let legendRow = 24.0
        /// How far markers may reach past the frame before they are cut off.
        static let clipMargin = 6.0
    }

    /// A panel's plotting area.
    struct Frame {
        let left: Double, top: Double, right: Double, bottom: Double
        var width: Double { right - left }
        var height: Double { bottom - top }

        static func panel(_ index: Int) -> Frame {
            let left = Double(index) * Layout.panelWidth + Layout.frameLeftInset
            return Frame(
                left: left, top: Layout.frameTop,
                right: Double(index + 1) * Layout.panelWidth - Layout.frameRightInset,
                bottom: Layout.frameTop + Layout.frameHeight)
        }
    }

    /// The SVG document.
    func svg() -> String {
        let windows = runs.map { Self.smoothingWindow(count: $0.trainAccuracy.count) }
        let smoothedAccuracy = zip(runs, windows).map { Self.movingAverage($0.trainAccuracy, window: $1) }
        let allSteps = runs.flatMap { ($0.trainLoss + $0.trainAccuracy + $0.testLoss + $0.testAccuracy).map(\.step) }
        let x = Axis(covering: allSteps, intervals: 6, snapUpper: false, minimumSpacing: 1)
        let lossAxis = Axis(
            covering: runs.flatMap { ($0.trainLoss + $0.testLoss).map(\.value) },
            intervals: 5, includingZero: true, padding: 0.04)
        let accuracyAxis = Axis(
            covering: (smoothedAccuracy.flatMap { $0 } + runs.flatMap(\.testAccuracy)).map(\.value),
            intervals: 5, padding: 0.04, limits: 0...1)

        let height = Layout.legendTop + Double(runs.count) * Layout.legendRow + 8
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.format(Layout.width))" height="\(Self.format(height))" \
            viewBox="0 0 \(Self.format(Layout.width)) \(Self.format(height))" font-family="\(Style.font)">
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="\(Self.format(Layout.width / 2))" y="32" text-anchor="middle" font-size="\(Style.titleFont)" \
            font-weight="bold" fill="\(Style.ink)">\(Self.escaped(title))</text>
            <defs>

            """
        for index in runs.indices {
            svg +=
                "<marker id=\"dot\(index)\" viewBox=\"0 0 10 10\" refX=\"5\" refY=\"5\" markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\">"
            svg +=
                "<circle cx=\"5\" cy=\"5\" r=\"3.6\" fill=\"#ffffff\" stroke=\"\(Style.testColour(index))\" stroke-width=\"1.8\"/></marker>\n"
        }
        for panel in 0..<2 {
            let frame = Frame.panel(panel)
            let margin = Layout.clipMargin
            svg +=
                "<clipPath id=\"panel\(panel)\"><rect x=\"\(Self.format(frame.left - margin))\" y=\"\(Self.format(frame.top - margin))\" "
            svg +=
                "width=\"\(Self.format(frame.width + 2 * margin))\" height=\"\(Self.format(frame.height + 2 * margin))\"/></clipPath>\n"
        }
        svg += "</defs>\n"

        svg += panelSVG(0, x: x, y: lossAxis, yTitle: "loss", train: runs.map(\.trainLoss), test: runs.map(\.testLoss))
        svg += panelSVG(
            1, x: x, y: accuracyAxis, yTitle: "accuracy", train: smoothedAccuracy, test: runs.map(\.testAccuracy))
        svg += legendSVG(windows: windows)
        return svg + "</svg>\n"
    }

    /// One panel: axes, then every run's train curve, then the test curves on top of them.
    private func panelSVG(_ index: Int, x: Axis, y: Axis, yTitle: String, train: [[Point]], test: [[Point]]) -> String {
        let frame = Frame.panel(index)
        var svg = axesSVG(x: x, y: y, frame: frame, yTitle: yTitle)
        svg +=
            "<g clip-path=\"url(#panel\(index))\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
        for (run, points) in train.enumerated() where !points.isEmpty {
            // A lone point is a zero-length line, which the round cap draws as a dot.
            let width = points.count == 1 ? "7" : "1.3"
            svg +=
                "<path d=\"\(Self.pathData(points, x: x, y: y, frame: frame))\" stroke=\"\(Style.trainColour(run))\" stroke-width=\"\(width)\" stroke-opacity=\"0.8\">"
            svg += "<title>\(Self.escaped(runs[run].name)) train \(yTitle)</title></path>\n"
        }
        for (run, points) in test.enumerated() where !points.isEmpty {
            let marker = "url(#dot\(run))"
            svg +=
                "<path d=\"\(Self.pathData(points, x: x, y: y, frame: frame))\" stroke=\"\(Style.testColour(run))\" stroke-width=\"2\" "
            svg +=
                "stroke-dasharray=\"\(Style.testDash)\" marker-start=\"\(marker)\" marker-mid=\"\(marker)\" marker-end=\"\(marker)\">"
            svg += "<title>\(Self.escaped(runs[run].name)) test \(yTitle)</title></path>\n"
        }
        return svg + "</g>\n"
    }

    /// One row per run under the panels: its name, then a sample of each line style it uses,
    /// in columns aligned from row to row.
    private func legendSVG(windows: [Int]) -> String {
        let trainLabels = windows.map { $0 > 1 ? "train (accuracy: moving average of \($0) steps, ~1%)" : "train" }
        let sample = 30.0
        let gap = 8.0
        let columnGap = 28.0
        let trainColumn = Frame.panel(0).left + Self.textWidth(runs.map(\.name), bold: true) + columnGap
        let testColumn = trainColumn + sample + gap + Self.textWidth(trainLabels) + columnGap
        var svg = "<g class=\"legend\" font-size=\"\(Style.legendFont)\" fill=\"\(Style.ink)\">\n"
        for (index, run) in runs.enumerated() {
            let y = Self.format(Layout.legendTop + Double(index) * Layout.legendRow)
            svg +=
                "<text x=\"\(Self.format(Frame.panel(0).left))\" y=\"\(y)\" dy=\"0.35em\" font-weight=\"bold\">\(Self.escaped(run.name))</text>\n"
            var column = trainColumn
            if !(run.trainLoss.isEmpty && run.trainAccuracy.isEmpty) {
                svg +=
                    "<line x1=\"\(Self.format(column))\" y1=\"\(y)\" x2=\"\(Self.format(column + sample))\" y2=\"\(y)\" "
                svg += "stroke=\"\(Style.trainColour(index))\" stroke-width=\"2\"/>\n"
                svg +=
                    "<text x=\"\(Self.format(column + sample + gap))\" y=\"\(y)\" dy=\"0.35em\">\(trainLabels[index])</text>\n"
                column = testColumn
            }
            if !(run.testLoss.isEmpty && run.testAccuracy.isEmpty) {
                let points = [column, column + sample / 2, column + sample].map { "\(Self.format($0)),\(y)" }.joined(
                    separator: " ")
                svg +=
                    "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(Style.testColour(index))\" stroke-width=\"2\" "
                svg += "stroke-dasharray=\"\(Style.testDash)\" marker-mid=\"url(#dot\(index))\"/>\n"
                svg +=
                    "<text x=\"\(Self.format(column + sample + gap))\" y=\"\(y)\" dy=\"0.35em\">test (each evaluation)</text>\n"
            }
        }
        return svg + "</g>\n"
    }

    /// The widest of `texts` in the legend font, estimated: an SVG file cannot measure its text,
    /// and DejaVu Sans, the widest common fallback, averages about 0.6 em a character.
    private static func textWidth(_ texts: [String], bold: Bool = false) -> Double {
        Double(texts.map(\.count).max() ?? 0) * Double(Style.legendFont) * (bold ? 0.66 : 0.6)
    }

    /// `M x,y x,y …` for the decimated points: the implicit line-to keeps the path short. A lone
    /// point gets a zero-length segment, since a bare move-to draws nothing.
    private static func pathData(_ points: [Point], x: Axis, y: Axis, frame: Frame) -> String {
        var d = "M"
        for (index, point) in decimated(points).enumerated() {
            if index > 0 { d += " " }
            d += format(x.position(point.step, from: frame.left, to: frame.right))
            d += ","
            d += format(y.position(point.value, from: frame.bottom, to: frame.top))
        }
        return d.contains(" ") ? d : d + " h0"
    }

    /// A coordinate to a tenth of a pixel, with no trailing ".0".
    static func format(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int(tenths / 10)) : String(tenths / 10)
    }

    /// Text with XML's five special characters escaped.
    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
