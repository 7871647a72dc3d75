import Prometheus
import Testing

@testable import Coordinator
@testable import Core

@Suite("Prometheus figures")
struct TrainingMetricsTests {
    static func text(_ metrics: TrainingMetrics) -> String {
        var buffer: [UInt8] = []
        metrics.registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// A test metric that read 0 before the first evaluation would be taken for a measurement.
    @Test func testMetricsAreAbsentUntilMeasured() throws {
        let metrics = TrainingMetrics()
        let before = Self.text(metrics)
        #expect(before.contains("descent_step"))
        #expect(!before.contains("descent_test_accuracy") && !before.contains("descent_test_loss"))
        metrics.record(
            EvaluationReport(
                step: 3, epoch: 1, result: Evaluator.Result(examples: 4, correct: 3, lossSum: 2), wallSeconds: 1.5))
        let after = Self.text(metrics)
        #expect(after.contains("descent_test_accuracy 0.75"), "\(after)")
        #expect(after.contains("descent_test_loss 0.5"), "\(after)")
    }

    /// `--reducers`: a counter per range of the gradient bytes its owner took, absent without.
    @Test func eachRangesBytesAreCountedWithReducers() throws {
        let metrics = TrainingMetrics()
        #expect(!Self.text(metrics).contains("descent_reducer_bytes_received_total"))
        var timings = StepTimings()
        timings.reducerBytesReceived = [100, 250]
        for step in 1...2 {
            metrics.record(
                StepReport(
                    step: step, epoch: 1, loss: 1, accuracy: 0.5, examples: 8, workers: 2, learningRate: 0.1,
                    examplesPerSecond: 10, timings: timings),
                bytesReceivedShared: 0)
        }
        let text = Self.text(metrics)
        #expect(text.contains(#"descent_reducer_bytes_received_total{range="0"} 200"#), "\(text)")
        #expect(text.contains(#"descent_reducer_bytes_received_total{range="1"} 500"#), "\(text)")
    }

    /// Every family has a HELP line before its TYPE line.
    @Test func everyMetricHasHelpText() throws {
        let text = Self.text(TrainingMetrics())
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(!types.isEmpty)
        for type in types {
            let name = type.split(separator: " ")[2]
            #expect(text.contains("# HELP \(name) "), "no HELP for \(name)")
        }
    }
}
