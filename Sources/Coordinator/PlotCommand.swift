import ArgumentParser

/// `coordinator plot`: loss and accuracy curves of one or more `--metrics` files, as SVG.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract:
            "Draw loss and accuracy against step from metrics files as one SVG; several files overlay as several runs."
    )

    @Argument(help: "Metrics files (JSON lines, as `train --metrics` writes them); each is one run.")
    var metrics: [String]

    @Option(help: "The SVG to write (atomically; nothing is written on an error).")
    var out: String

    @Option(help: "The plot's title.")
    var title: String = CurvePlot.defaultTitle

    func validate() throws {
        guard !metrics.isEmpty else { throw ValidationError("give at least one metrics file") }
    }

    func run() throws {
        try CurvePlot.write(metricsFiles: metrics, to: out, title: title)
    }
}
