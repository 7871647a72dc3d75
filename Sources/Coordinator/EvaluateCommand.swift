import ArgumentParser
import Core

/// `coordinator evaluate`: a model's accuracy and loss on a dataset.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Print a model's accuracy and mean loss on a dataset: accuracy=… loss=… examples=…"
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "fashion-mnist (its test split), idx:DIR or csv:FILE.")
    var dataset: String = "fashion-mnist"

    func run() throws {
        let loaded = try modelOptions.load()
        let data = try DatasetSpec(parsing: dataset).load(split: .test)
        try data.validate(for: loaded.shape)
        let result = Evaluator(shape: loaded.shape).evaluate(loaded.parameters, on: data)
        print("accuracy=\(result.accuracy) loss=\(result.loss) examples=\(result.examples)")
    }
}
