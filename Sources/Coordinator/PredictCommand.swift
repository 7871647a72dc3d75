import ArgumentParser
import Core

/// `coordinator predict`: a model's class and probabilities for each input row.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Print one line per example: the predicted class, then the output probabilities."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "csv:FILE (label column first, as for training; labels are ignored) or idx:DIR.")
    var input: String

    func run() throws {
        let loaded = try modelOptions.load()
        let data = try DatasetSpec(parsing: input).load(split: .test)
        try data.validateFeatureCount(loaded.shape.inputs)
        let rows = Evaluator(shape: loaded.shape).predict(loaded.parameters, on: data.features)
        var out = ""
        for probabilities in rows {
            var predicted = 0
            if probabilities.count == 1 {
                predicted = probabilities[0] >= 0.5 ? 1 : 0
            } else {
                for i in probabilities.indices where probabilities[i] > probabilities[predicted] { predicted = i }
            }
            out += "\(predicted) " + probabilities.map { "\($0)" }.joined(separator: " ") + "\n"
        }
        print(out, terminator: "")
    }
}
