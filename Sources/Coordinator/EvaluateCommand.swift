import ArgumentParser
import Core

/// `coordinator evaluate`: a model's accuracy and loss on a dataset.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Print a model's accuracy and mean loss on a dataset: accuracy=… loss=… examples=…"
    )

    @Option(help: "Model weights (safetensors, as `train --out` writes them).")
    var model: String

    @Option(help: "fashion-mnist (its test split), idx:DIR or csv:FILE.")
    var dataset: String = "fashion-mnist"

    @Option(help: "BLAS threads.")
    var threads: Int = 1

    func run() throws {
        BLAS.setThreads(threads)
        let loaded = try ModelFile.load(model)
        let data = try DatasetSpec(parsing: dataset).load(split: .test)
        try data.validate(for: loaded.shape)
        let result = Evaluator(shape: loaded.shape).evaluate(loaded.parameters, on: data)
        print("accuracy=\(result.accuracy) loss=\(result.loss) examples=\(result.examples)")
    }
}
