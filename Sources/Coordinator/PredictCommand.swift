import ArgumentParser
import Core
import Foundation

/// `coordinator predict`: a model's class and probabilities for each input row, every row in
/// order — with or without a label column, with or without a header.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict each input row's class: one output row per input row, in order.",
        discussion: """
            CSV output (the default): a header `row,predicted,p0,p1,…`, then per input row its \
            0-based index among the data rows (a header and blank lines are not counted), the \
            predicted class and the probability of each class. A model with one sigmoid output \
            has a single probability column, p1 (the probability of class 1). --format jsonl: one \
            {"row":0,"predicted":3,"probabilities":[…]} per row. A model trained with \
            --standardize has its inputs standardized with its stored statistics.
            """
    )

    /// Whether a CSV row starts with a label.
    enum LabelColumn: String, EnumerableFlag {
        case hasLabel
        case noLabel

        static func help(for value: LabelColumn) -> ArgumentHelp? {
            switch value {
            case .hasLabel: return "CSV rows start with a label, which is ignored."
            case .noLabel:
                return
                    "CSV rows are the features alone. Neither flag: a row of n0 + 1 columns starts with a label, one of n0 has none (n0: the model's inputs)."
            }
        }
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv
        case jsonl
    }

    @OptionGroup var modelOptions: ModelOptions

    @Option(
        help: "csv:FILE (rows of features, a label first or not; a header row is skipped) or idx:DIR (its t10k- files)."
    )
    var input: String

    @Flag var labelColumn: LabelColumn?

    @Option(help: "csv (a header, then row,predicted,p0,p1,…) or jsonl (one JSON object per row).")
    var format: Format = .csv

    @Option(help: "Write the predictions to FILE (atomically) instead of stdout.")
    var out: String?

    func run() throws {
        let loaded = try modelOptions.load()
        let features = try inputFeatures(inputs: loaded.shape.inputs)
        loaded.standardization?.apply(to: features)
        let rows = Evaluator(shape: loaded.shape).predict(loaded.parameters, on: features)
        let text = Self.render(rows, format: format)
        if let out {
            try AtomicFile.write(Array(text.utf8), to: out)
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    /// The input's features, (n0, m): a CSV file's columns, less the label column where there is one.
    private func inputFeatures(inputs n0: Int) throws -> Matrix {
        let spec = try DatasetSpec(parsing: input)
        guard case .csv(let file) = spec else {
            if let labelColumn {
                throw ValidationError(
                    "--\(labelColumn == .hasLabel ? "has-label" : "no-label") applies to csv: input only")
            }
            let data = try spec.load(split: .test)
            try data.validateFeatureCount(n0)
            return data.features
        }
        let table = try CSVLoader.loadTable(file)
        if let line = table.headerLine { Notes.say("\(file): line \(line) taken as a header") }
        let columns = table.columnCount
        let hasLabel: Bool
        switch labelColumn {
        case .hasLabel?: hasLabel = true
        case .noLabel?: hasLabel = false
        case nil: hasLabel = columns == n0 + 1
        }
        guard columns == n0 + (hasLabel ? 1 : 0) else {
            let wanted: String
            switch labelColumn {
            case .hasLabel?: wanted = "with --has-label a row is a label and \(n0) features, \(n0 + 1) columns"
            case .noLabel?: wanted = "with --no-label a row is \(n0) features, \(n0) columns"
            case nil: wanted = "a row is \(n0) features, or a label and \(n0) features (\(n0 + 1) columns)"
            }
            throw PredictInputError(
                description:
                    "\(file) line \(table.lineNumbers[0]): \(columns) columns, but the model takes \(n0) features: \(wanted)"
            )
        }
        return hasLabel ? table.droppingFirstColumn() : table.features
    }

    /// The predicted class of one row's probabilities: the most probable, or for one sigmoid
    /// unit 1 when p1 ≥ ½.
    static func predictedClass(_ probabilities: [Float]) -> Int {
        if probabilities.count == 1 { return probabilities[0] >= 0.5 ? 1 : 0 }
        var predicted = 0
        for i in probabilities.indices where probabilities[i] > probabilities[predicted] { predicted = i }
        return predicted
    }

    /// The predictions as CSV (with a header) or JSON lines.
    static func render(_ rows: [[Float]], format: Format) -> String {
        var out = ""
        let outputs = rows.first?.count ?? 0
        if format == .csv {
            let names = outputs == 1 ? ["p1"] : (0..<outputs).map { "p\($0)" }
            out += (["row", "predicted"] + names).joined(separator: ",") + "\n"
        }
        for (index, probabilities) in rows.enumerated() {
            let predicted = predictedClass(probabilities)
            let values = probabilities.map { "\($0)" }.joined(separator: ",")
            switch format {
            case .csv: out += "\(index),\(predicted),\(values)\n"
            case .jsonl: out += "{\"row\":\(index),\"predicted\":\(predicted),\"probabilities\":[\(values)]}\n"
            }
        }
        return out
    }
}

/// An input whose rows do not fit the model.
struct PredictInputError: Error, CustomStringConvertible {
    let description: String
}
