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

    init(title: String, runs: [Run]) {
        self.title = title
        self.runs = runs
    }

    /// Reads the metrics files and writes their curves to `path` atomically (`AtomicFile`):
    /// on any error nothing is written.
    ///
    /// Each file is one run, named in the legend by its file name (by its path as given when
    /// two files share a name).
    static func write(metricsFiles: [String], to path: String, title: String = "Training curves") throws {
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
        /// ColorBrewer "Paired": one hue per run, light for the noisy train curve underneath and
        /// dark for the few test points drawn over it.
        static let palette: [(train: String, test: String)] = [
            ("#a6cee3", "#1f78b4"), ("#fdbf6f", "#ff7f00"), ("#b2df8a", "#33a02c"), ("#fb9a99", "#e31a1c"), ("#cab2d6", "#6a3d9a"),
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
        /// Rough advance of one character in the legend font, to place the columns after a name.
        static let legendCharacter = 8.0
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
            intervals: 5, includingZero: true, headroom: 0.04)
        let accuracyAxis = Axis(
            covering: (smoothedAccuracy.flatMap { $0 } + runs.flatMap(\.testAccuracy)).map(\.value),
            intervals: 5, headroom: 0.04, limits: 0...1)

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
            svg += "<marker id=\"dot\(index)\" viewBox=\"0 0 10 10\" refX=\"5\" refY=\"5\" markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\">"
            svg += "<circle cx=\"5\" cy=\"5\" r=\"3.6\" fill=\"#ffffff\" stroke=\"\(Style.testColour(index))\" stroke-width=\"1.8\"/></marker>\n"
        }
        for panel in 0..<2 {
            let frame = Frame.panel(panel), margin = Layout.clipMargin
            svg += "<clipPath id=\"panel\(panel)\"><rect x=\"\(Self.format(frame.left - margin))\" y=\"\(Self.format(frame.top - margin))\" "
            svg += "width=\"\(Self.format(frame.width + 2 * margin))\" height=\"\(Self.format(frame.height + 2 * margin))\"/></clipPath>\n"
        }
        svg += "</defs>\n"

        svg += panelSVG(0, x: x, y: lossAxis, yTitle: "loss", train: runs.map(\.trainLoss), test: runs.map(\.testLoss))
        svg += panelSVG(1, x: x, y: accuracyAxis, yTitle: "accuracy", train: smoothedAccuracy, test: runs.map(\.testAccuracy))
        svg += legendSVG(windows: windows)
        return svg + "</svg>\n"
    }

    /// One panel: axes, then every run's train curve, then the test curves on top of them.
    private func panelSVG(_ index: Int, x: Axis, y: Axis, yTitle: String, train: [[Point]], test: [[Point]]) -> String {
        let frame = Frame.panel(index)
        var svg = axesSVG(x: x, y: y, frame: frame, yTitle: yTitle)
        svg += "<g clip-path=\"url(#panel\(index))\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
        for (run, points) in train.enumerated() where !points.isEmpty {
            let marker = points.count == 1 ? " marker-start=\"url(#dot\(run))\"" : ""
            svg += "<path d=\"\(Self.pathData(points, x: x, y: y, frame: frame))\" stroke=\"\(Style.trainColour(run))\" stroke-width=\"1.4\"\(marker)>"
            svg += "<title>\(Self.escaped(runs[run].name)) train \(yTitle)</title></path>\n"
        }
        for (run, points) in test.enumerated() where !points.isEmpty {
            let marker = "url(#dot\(run))"
            svg += "<path d=\"\(Self.pathData(points, x: x, y: y, frame: frame))\" stroke=\"\(Style.testColour(run))\" stroke-width=\"2\" "
            svg += "stroke-dasharray=\"\(Style.testDash)\" marker-start=\"\(marker)\" marker-mid=\"\(marker)\" marker-end=\"\(marker)\">"
            svg += "<title>\(Self.escaped(runs[run].name)) test \(yTitle)</title></path>\n"
        }
        return svg + "</g>\n"
    }

    /// One row per run under the panels: its name, then a sample of each line style it uses.
    private func legendSVG(windows: [Int]) -> String {
        let nameWidth = Double(runs.map(\.name.count).max() ?? 0) * Layout.legendCharacter
        let left = Frame.panel(0).left
        var svg = "<g class=\"legend\" font-size=\"\(Style.legendFont)\" fill=\"\(Style.ink)\">\n"
        for (index, run) in runs.enumerated() {
            let y = Layout.legendTop + Double(index) * Layout.legendRow
            svg += "<text x=\"\(Self.format(left))\" y=\"\(Self.format(y))\" dy=\"0.35em\" font-weight=\"bold\">\(Self.escaped(run.name))</text>\n"
            var column = left + nameWidth + 28
            if !(run.trainLoss.isEmpty && run.trainAccuracy.isEmpty) {
                svg += "<line x1=\"\(Self.format(column))\" y1=\"\(Self.format(y))\" x2=\"\(Self.format(column + 30))\" y2=\"\(Self.format(y))\" "
                svg += "stroke=\"\(Style.trainColour(index))\" stroke-width=\"2\"/>\n"
                let label = windows[index] > 1 ? "train (accuracy: moving average of \(windows[index]) steps, ~1%)" : "train"
                svg += "<text x=\"\(Self.format(column + 38))\" y=\"\(Self.format(y))\" dy=\"0.35em\">\(label)</text>\n"
                column += 38 + Double(label.count) * Layout.legendCharacter * 0.9 + 28
            }
            if !(run.testLoss.isEmpty && run.testAccuracy.isEmpty) {
                let points = [column, column + 15, column + 30].map { "\(Self.format($0)),\(Self.format(y))" }.joined(separator: " ")
                svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(Style.testColour(index))\" stroke-width=\"2\" "
                svg += "stroke-dasharray=\"\(Style.testDash)\" marker-mid=\"url(#dot\(index))\"/>\n"
                svg += "<text x=\"\(Self.format(column + 38))\" y=\"\(Self.format(y))\" dy=\"0.35em\">test (each evaluation)</text>\n"
            }
        }
        return svg + "</g>\n"
    }

    /// `M x,y x,y …` for the decimated points: the implicit line-to keeps the path short.
    private static func pathData(_ points: [Point], x: Axis, y: Axis, frame: Frame) -> String {
        var d = "M"
        for (index, point) in decimated(points).enumerated() {
            if index > 0 { d += " " }
            d += format(x.position(point.step, from: frame.left, to: frame.right))
            d += ","
            d += format(y.position(point.value, from: frame.bottom, to: frame.top))
        }
        return d
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
