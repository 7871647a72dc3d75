import Foundation
import Testing

/// The short run the distributed tests repeat on `LabelledData.synthetic()` (m = 1001): 20 steps
/// of an 8-16-8-3 relu network, so that differences in the bits have room to show.
enum SyntheticTraining {
    static let steps = 20
    static let examples = 1001

    /// `coordinator train` flags shared by every run; `batch` 0 is full batch.
    static func flags(csv: String, batch: Int) -> [String] {
        [
            "train", "--dataset", "csv:\(csv)", "--layers", "8,16,8,3", "--lr", "0.2", "--seed", "7",
            "--steps", String(steps), "--batch", String(batch),
        ]
    }

    /// The global batch of a 1-based step: B, the rest of the data in an epoch's last step, or all
    /// of it for full batch.
    static func expectedExamples(step: Int, batch: Int) -> Int {
        guard batch > 0 else { return examples }
        let stepsPerEpoch = (examples + batch - 1) / batch
        let j = (step - 1) % stepsPerEpoch
        return min((j + 1) * batch, examples) - j * batch
    }

    /// Runs the coordinator to a successful end and returns its summary; after a
    /// `--local-workers` run, also expects every worker to be gone.
    @discardableResult
    static func run(
        _ arguments: [String], environment: [String: String] = [:], in scratch: ScratchDirectory,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: Any] {
        let outcome = try await Descent.launchCoordinator(arguments, environment: environment, in: scratch).wait(
            timeout: .seconds(60))
        try #require(outcome.succeeded, "\(outcome.transcript)", sourceLocation: sourceLocation)
        if arguments.contains("--local-workers") {
            let leftovers = ProcessTable.workers(of: outcome.pid)
            #expect(
                leftovers.isEmpty, "workers outlived `\(outcome.command)`:\n\(ProcessTable.describe(leftovers))",
                sourceLocation: sourceLocation)
        }
        return try outcome.summary()
    }
}
