import ArgumentParser
import Core
import Foundation

/// `coordinator evaluate`: a model's accuracy and loss on a dataset.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Print a model's accuracy and mean loss on a dataset: accuracy=… loss=… examples=…"
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(
        help:
            "fashion-mnist (its test split), idx:DIR (its t10k- files; a directory without them is an error) or csv:FILE."
    )
    var dataset: String = "fashion-mnist"

    func run() throws {
        let loaded = try modelOptions.load()
        let data = try DatasetSpec(parsing: dataset).load(split: .test)
        try data.validate(for: loaded.shape)
        loaded.standardization?.apply(to: data.features)
        if let line = data.headerLine { Notes.say("\(data.source): line \(line) taken as a header") }
        let result = Evaluator(shape: loaded.shape).evaluate(loaded.parameters, on: data)
        print("accuracy=\(result.accuracy) loss=\(result.loss) examples=\(result.examples)")
    }
}

/// Notes to the user on stderr from `evaluate` and `predict`, whose stdout is their result.
enum Notes {
    static func say(_ text: String) {
        FileHandle.standardError.write(Data("note: \(text)\n".utf8))
    }
}
