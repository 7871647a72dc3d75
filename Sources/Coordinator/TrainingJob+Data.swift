import Core
import Foundation
import Logging

/// Something `prepare` found worth saying, logged once the whole job is known to be valid (a
/// refused run says only why it was refused).
struct JobNotice {
    let level: Logger.Level
    let text: String

    static func info(_ text: String) -> JobNotice { JobNotice(level: .info, text: text) }
    static func warning(_ text: String) -> JobNotice { JobNotice(level: .warning, text: text) }
}

/// The data of a run and the network that fits it: `--layers` or `--hidden`, the test split, the
/// standardization.
extension TrainingJob {
    /// The hidden activation: `--activation`, else the `--init` model's, else relu.
    static func activation(_ command: TrainCommand, initial: ModelFile.Loaded?) throws -> Activation {
        let name = command.activation ?? initial?.shape.activation.rawValue ?? Activation.relu.rawValue
        guard let activation = Activation(rawValue: name) else {
            throw ConfigurationError.invalid(
                field: "--activation",
                reason: "'\(name)' is not one of \(Activation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return activation
    }

    /// The network and the training data, checked against each other (and against `--init`).
    ///
    /// With `--layers` (or none) the shape is known before the data is read; with `--hidden`, n0
    /// is the data's feature count and nL its largest label + 1 (at least 2: a softmax output).
    static func shapeAndTrainingData(
        _ command: TrainCommand, spec: DatasetSpec, initial: ModelFile.Loaded?, activation: Activation,
        notices: inout [JobNotice]
    ) throws -> (NetworkShape, Dataset) {
        let shape: NetworkShape
        let train: Dataset
        if let hidden = command.hidden {
            let sizes = try hiddenSizes(hidden)
            train = try spec.load(split: .train)
            let classes = max(2, Int(train.labels.max() ?? 0) + 1)
            shape = try NetworkShape(layers: [train.featureCount] + sizes + [classes], activation: activation)
            notices.append(
                .info(
                    "--hidden \(hidden): layers \(shape.layersText) (n0 = the data's \(train.featureCount) features, nL = \(classes) classes, labels 0…\(classes - 1))"
                ))
            try checkInit(initial, path: command.`init`, fits: shape)
        } else {
            shape = try NetworkShape(
                parsing: command.layers ?? initial?.shape.layersText ?? "784,256,128,10", activation: activation)
            try checkInit(initial, path: command.`init`, fits: shape)
            train = try spec.load(split: .train)
        }
        try train.validate(for: shape)
        if let line = train.headerLine { notices.append(.info("\(train.source): line \(line) taken as a header")) }
        return (shape, train)
    }

    /// `--hidden n1,…`: one or more whole numbers, each at least 1.
    static func hiddenSizes(_ text: String) throws -> [Int] {
        var sizes: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let size = Int(part.trimmingCharacters(in: .whitespaces)), size >= 1 else {
                throw ConfigurationError.invalid(
                    field: "--hidden", reason: "'\(part)' in '\(text)' is not a layer size (a whole number, 1 or more)")
            }
            sizes.append(size)
        }
        return sizes
    }

    private static func checkInit(_ initial: ModelFile.Loaded?, path: String?, fits shape: NetworkShape) throws {
        if let initial, initial.shape != shape, let path {
            throw ConfigurationError.modelMismatch(
                file: path, reason: "holds a \(initial.shape) network, but the run asks for \(shape)")
        }
    }

    /// The test split: `--test-dataset`, or fashion-mnist's when training on it. An IDX directory
    /// without `t10k-` files has none: a warning, and the run reports no test accuracy rather
    /// than the training split's under its name.
    static func testData(
        _ command: TrainCommand, trainSpec: DatasetSpec, shape: NetworkShape, notices: inout [JobNotice]
    ) throws -> Dataset? {
        var testSpec = try command.testDataset.map(DatasetSpec.init(parsing:))
        if testSpec == nil, trainSpec == .fashionMNIST { testSpec = .fashionMNIST }
        guard let testSpec else { return nil }
        let test: Dataset
        do {
            test = try testSpec.load(split: .test)
        } catch .missingTestSplit(let directory, let missing) {
            let reason = DatasetError.missingTestSplit(directory: directory, missing: missing)
            notices.append(.warning("--test-dataset \(testSpec): \(reason); this run reports no test accuracy"))
            return nil
        }
        try test.validate(for: shape)
        if let line = test.headerLine { notices.append(.info("\(test.source): line \(line) taken as a header")) }
        return test
    }

    /// Standardizes `train` and `test` in place and returns the statistics used, if any: the
    /// `--init` model's when it has them (its weights expect them), else with `--standardize` the
    /// training set's. `--standardize` with an `--init` model trained without it is refused.
    /// Without either, features beyond ±10 draw a warning that names `--standardize`.
    static func standardize(
        _ command: TrainCommand, initial: ModelFile.Loaded?, train: Dataset, test: Dataset?,
        notices: inout [JobNotice]
    ) throws -> Standardization? {
        let statistics: Standardization
        if let initial, let path = command.`init` {
            guard let stored = initial.standardization else {
                if command.standardize {
                    throw ConfigurationError.invalid(
                        field: "--standardize",
                        reason:
                            "the --init model \(path) was trained on unstandardized features, which its weights expect; drop --standardize or train from scratch"
                    )
                }
                return nil
            }
            statistics = stored
            notices.append(.info("standardizing the data with the --init model's statistics (\(path))"))
        } else if command.standardize {
            statistics = Standardization.of(train.features)
            notices.append(
                .info(
                    "--standardize: each feature's mean and std over the \(train.count) training examples, applied to the training and test data and stored in the model"
                ))
        } else {
            let largest = Standardization.largestMagnitude(train.features)
            if largest > Standardization.unscaledMagnitude {
                notices.append(
                    .warning(
                        "the training features reach |x| = \(largest), beyond ±\(Int(Standardization.unscaledMagnitude)): unscaled features train badly (the loss explodes or stays at chance); give --standardize to scale each feature to mean 0 and std 1 (stored in the model, applied by evaluate and predict)"
                    ))
            }
            return nil
        }
        statistics.apply(to: train.features)
        if let test { statistics.apply(to: test.features) }
        return statistics
    }

    /// A warning when a step's loss is beyond 10 × log(classes) early in the run: the loss has
    /// exploded, and unscaled features are the usual cause.
    func earlyLossWarning(_ report: StepReport) -> String? {
        let classes = Double(OutputLayer.labelCount(outputs: options.shape.outputs))
        guard report.step <= 10, report.loss > 10 * Foundation.log(classes) else { return nil }
        let loss = String(format: "%.4g", report.loss)
        let advice =
            standardization == nil
            ? "give --standardize if the features are not scaled, or lower --lr" : "lower --lr"
        return "the training loss is \(loss) at step \(report.step), over 10 × log(\(Int(classes))): \(advice)"
    }

    /// A warning when the mean training loss of steps 51–100 is still at chance (within 2% of
    /// log(classes), what predicting every class alike costs): the network is not learning.
    func chanceLossWarning(mean loss: Double) -> String? {
        let classes = Double(OutputLayer.labelCount(outputs: options.shape.outputs))
        let chance = Foundation.log(classes)
        guard loss.isFinite, loss >= 0.98 * chance else { return nil }
        let advice =
            standardization == nil
            ? "give --standardize if the features are not scaled, or change --lr" : "change --lr or the network"
        let figures = String(format: "mean %.4f; log(%d) = %.4f", loss, Int(classes), chance)
        return
            "the training loss stayed at chance over steps \(ChanceLoss.from + 1)–\(ChanceLoss.to) (\(figures)): the network is not learning; \(advice)"
    }
}

/// The steps over which a loss at chance is looked for (after `from`, up to `to`).
enum ChanceLoss {
    static let from = 50
    static let to = 100
}
