import ArgumentParser
import Core
import Foundation

/// `descent-bench`: how fast a training step runs, next to plain sgemm on the same shapes.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "descent-bench",
        abstract: "Time Descent's training step against plain cblas_sgemm on the same shapes, in one run."
    )

    @Option(help: "Layer sizes, one or more models separated by ';'.")
    var models: String = "784,256,128,10;784,1024,1024,10"

    @Option(help: "Examples per step, one or more, comma-separated.")
    var batches: String = "128,256,512"

    @Option(help: "BLAS threads.")
    var threads: Int = 1

    @Option(help: "Seconds to spend on each measurement (after a warm-up).")
    var seconds: Double = 2

    @Option(help: "Write the results as JSON to this file too.")
    var json: String?

    func run() throws {
        BLAS.setThreads(threads)
        var rows: [StepBenchmark.Result] = []
        print("model              batch  threads  step ex/s   step GFLOP/s  sgemm GFLOP/s  step/sgemm")
        for model in models.split(separator: ";") {
            let shape = try NetworkShape(parsing: String(model), activation: .relu)
            for batch in batches.split(separator: ",").compactMap({ Int($0) }) {
                let result = StepBenchmark(shape: shape, batch: batch, threads: threads).run(seconds: seconds)
                rows.append(result)
                print(result.tableRow)
            }
        }
        if let json {
            let text = rows.map(\.json).joined(separator: "\n") + "\n"
            try text.write(toFile: json, atomically: true, encoding: .utf8)
        }
    }
}
