import Core
import Foundation

/// What a person watching the run sees: on a terminal one line redrawn in place — epoch, step,
/// loss, accuracy, examples/s, workers, ETA — and elsewhere (CI, log files) a plain line every
/// few seconds, never an escape code.
final class ProgressLine {
    private let terminal: Terminal
    private let totalSteps: Int
    private let epochs: Int
    private let expectedWorkers: Int
    private let interval: Duration
    private var lastDrawn: ContinuousClock.Instant?
    private var started: ContinuousClock.Instant?
    private var startStep = 0
    private var examplesSinceDraw = 0
    private var testAccuracy: Double?
    private var smoothedLoss: Double?

    init(terminal: Terminal, totalSteps: Int, epochs: Int, expectedWorkers: Int) {
        self.terminal = terminal
        self.totalSteps = totalSteps
        self.epochs = epochs
        self.expectedWorkers = expectedWorkers
        interval = terminal.isInteractive ? .milliseconds(100) : .seconds(10)
    }

    func update(_ report: StepReport) {
        let now = ContinuousClock.now
        if started == nil {
            started = now
            startStep = report.step - 1
            lastDrawn = now
        }
        examplesSinceDraw += report.examples
        smoothedLoss =
            report.loss.isFinite ? (smoothedLoss.map { 0.9 * $0 + 0.1 * report.loss } ?? report.loss) : smoothedLoss
        guard let lastDrawn, now - lastDrawn >= interval || report.step == totalSteps else { return }
        let elapsed = (now - lastDrawn).inSeconds
        let rate = elapsed > 0 ? Double(examplesSinceDraw) / elapsed : 0
        examplesSinceDraw = 0
        self.lastDrawn = now
        draw(report, rate: rate, now: now)
    }

    func evaluated(_ report: EvaluationReport) {
        testAccuracy = report.result.accuracy
        if !terminal.isInteractive { return }
        terminal.showProgress(lastLine ?? "")
    }

    func finish() {
        if terminal.isInteractive { terminal.endProgress() }
    }

    private var lastLine: String?

    private func draw(_ report: StepReport, rate: Double, now: ContinuousClock.Instant) {
        var parts = [
            "epoch \(report.epoch)/\(epochs)",
            "step \(report.step)/\(totalSteps)",
            "loss " + Self.loss(smoothedLoss ?? report.loss),
            String(format: "acc %.1f%%", report.accuracy * 100),
        ]
        if let testAccuracy { parts.append(String(format: "test %.1f%%", testAccuracy * 100)) }
        parts.append("\(Self.grouped(rate)) ex/s")
        parts.append("workers \(report.workers)/\(expectedWorkers)")
        if let started, report.step > startStep {
            let perStep = (now - started).inSeconds / Double(report.step - startStep)
            parts.append("ETA " + Self.clock(perStep * Double(totalSteps - report.step)))
        }
        let line = parts.joined(separator: "  ")
        lastLine = line
        if terminal.isInteractive {
            terminal.showProgress(line)
        } else {
            terminal.printLine(line)
        }
    }

    /// A loss to 4 decimals, or to 3 significant digits below 0.001, where 4 decimals would show
    /// a run that still learns as "0.0000".
    static func loss(_ value: Double) -> String {
        value != 0 && abs(value) < 0.001 ? String(format: "%.2e", value) : String(format: "%.4f", value)
    }

    static func grouped(_ value: Double) -> String {
        let digits = String(Int(value.rounded()))
        var out = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0, index % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return String(out.reversed())
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
