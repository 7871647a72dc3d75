import Core
import Foundation
import Logging
import Synchronization

/// How a training run ended, as the summary's `status` says it: on every exit, not only a
/// successful one, so that a script reading the last line of stdout always learns what happened.
enum RunEnding: String {
    case completed, interrupted, diverged, failed

    init(after error: Error) {
        switch error {
        case CoordinatorError.interrupted: self = .interrupted
        case TrainingError.diverged: self = .diverged
        default: self = .failed
        }
    }

    /// Set once a summary line is printed, so that an outer handler does not print a second one.
    private static let printed = Atomic<Bool>(false)

    /// Prints `line` as the last line of stdout, once per process.
    static func printSummary(_ line: JSONLine) {
        guard !printed.exchange(true, ordering: .relaxed) else { return }
        print(line.text)
        // Out now, not at exit: a lingering endpoint keeps the process alive after it.
        fflush(nil)
    }

    /// The summary of a run that stopped before its trainer started (refused setup, workers that
    /// never came, a signal while waiting for them): nothing was trained and nothing written.
    static func printSummary(before error: Error) {
        var line = JSONLine()
        line.add("status", RunEnding(after: error).rawValue)
        line.add("error", "\(error)")
        line.add("steps", 0)
        printSummary(line)
    }
}

extension TrainingJob {
    /// After `error` ends training: a checkpoint where there is a directory for one, the model
    /// (the last finite parameters; beside `--out` when the run diverged, so that a failed run
    /// is not taken for a finished one), the workers told to leave, and the summary with its status.
    func stop(_ trainer: Trainer, source: GradientSource, after error: Error, log: Logger) {
        let ending = RunEnding(after: error)
        var resumable = false
        // W, b whole here (`--broadcast reducers` leaves ranges at the reducers); when they cannot
        // be, neither a model nor a checkpoint of them is written, rather than a wrong one.
        var whole = true
        do {
            try source.gatherParameters(into: trainer.parameters, step: trainer.step)
        } catch {
            whole = false
            let resume =
                checkpointDirectory.map { "; continue from the last checkpoint written with --resume \($0)" } ?? ""
            log.error(
                "W, b of step \(trainer.step) cannot be put together: \(error); no model or checkpoint of it is written\(resume)"
            )
        }
        if let checkpointDirectory, trainer.step > 0, whole {
            do {
                // The reducers' moments of their ranges; one lost has taken its range's with it.
                try source.gatherOptimizerState(into: trainer.optimizer, step: trainer.step)
                let path = try Checkpoint.save(
                    trainer, run: recorded(source), to: checkpointDirectory, standardization: standardization)
                log.notice(
                    "checkpoint of step \(trainer.step) written to \(path); continue with --resume \(checkpointDirectory)"
                )
                // A coordinator that gave up, or was sent SIGTERM (how Kubernetes and SLURM stop
                // what they will restart), may be restarted: workers that connected themselves
                // wait for it (up to their --reconnect-timeout). Ctrl-C is a person stopping the
                // run: they all leave.
                resumable = error is CoordinatorError && !Self.isCtrlC(error)
            } catch {
                let newest =
                    (try? Checkpoint.list(checkpointDirectory))?.last.map { " (the newest there: \($0))" } ?? ""
                log.error(
                    "the checkpoint of step \(trainer.step) could not be written: \(error); continue from the last one written with --resume \(checkpointDirectory)\(newest)"
                )
            }
        }
        source.shutdown(reason: "training stopped: \(error)", resumable: resumable)
        let written = whole ? saveModel(trainer, source: source, ending: ending, log: log) : nil
        var line = summaryLine(trainer.tally.summary(workers: source.workerCount), ending: ending, out: written)
        line.add("error", "\(error)")
        RunEnding.printSummary(line)
    }

    /// Where the model of a run that ended early goes: `--out` when it was interrupted (a person
    /// or a scheduler chose to stop it there); beside `--out` when it diverged
    /// (`NAME.last-finite.safetensors`) or failed (`NAME.incomplete.safetensors`), so that a run
    /// that did not finish is never taken for one that did; nothing before the first step.
    /// Returns the path written, if any.
    private func saveModel(_ trainer: Trainer, source: GradientSource, ending: RunEnding, log: Logger) -> String? {
        guard trainer.step > 0 else { return nil }
        let path: String
        switch ending {
        case .diverged: path = Self.path(beside: out, suffix: "last-finite")
        case .failed: path = Self.path(beside: out, suffix: "incomplete")
        case .interrupted, .completed: path = out
        }
        do {
            try ModelFile.save(
                trainer.parameters, to: path, step: trainer.step,
                extraMetadata: modelMetadata(source, tally: trainer.tally), standardization: standardization)
        } catch {
            log.error("the model could not be written: \(error)")
            return nil
        }
        let what = ending == .diverged ? "the last finite parameters" : "the model"
        log.notice("\(what) of step \(trainer.step) written to \(path)")
        return path
    }

    private static func isCtrlC(_ error: Error) -> Bool {
        if case CoordinatorError.interrupted(let signal) = error { return signal == SIGINT }
        return false
    }

    /// `NAME.SUFFIX.safetensors` beside `NAME.safetensors`.
    static func path(beside out: String, suffix: String) -> String {
        let stem = out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out
        return "\(stem).\(suffix).safetensors"
    }

    /// The JSON summary that ends stdout.
    func summaryLine(_ summary: TrainingSummary, ending: RunEnding, out written: String?) -> JSONLine {
        var line = JSONLine()
        line.add("status", ending.rawValue)
        line.add("steps", summary.steps)
        line.add("final_loss", summary.finalLoss)
        line.add("last_batch_loss", summary.lastBatchLoss)
        if let test = summary.test {
            line.add("test_accuracy", test.accuracy)
            line.add("test_loss", test.loss)
        }
        line.add("examples", summary.examples)
        line.add("examples_per_s", summary.examplesPerSecond)
        line.add("wall_s", summary.wallSeconds)
        line.add("workers", summary.workers)
        line.add("shards", options.shards)
        if let peak = PeakMemory.residentMegabytes() { line.add("peak_rss_mb", peak) }
        if let written { line.add("out", written) }
        return line
    }
}
