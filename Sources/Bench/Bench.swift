import ArgumentParser
import Core
import Foundation

/// `descent-bench`: how fast Descent trains, measured in one run so figures compare fairly.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "descent-bench",
        abstract:
            "Descent's benchmarks: a training step against plain cblas_sgemm, distributed training, elementary functions, optimizer updates, local processes stepping in shared memory.",
        subcommands: [
            StepCommand.self, DistributedCommand.self, ElementaryCommand.self, OptimizerCommand.self,
            LocalStepCommand.self,
        ],
        defaultSubcommand: StepCommand.self
    )
}

/// `descent-bench step`: one training step against its gemms alone.
struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time one training step (forward, backward, sgd) against plain cblas_sgemm on the same shapes."
    )

    @Option(help: "Layer sizes, one or more models separated by ';'.")
    var models: String = "784,256,128,10;784,1024,1024,10"

    @Option(help: "Examples per step, one or more, comma-separated.")
    var batches: String = "128,256,512"

    @Option(help: "BLAS threads.")
    var threads: Int = 1

    @Option(help: "Seconds to spend on each measurement (after a warm-up).")
    var seconds: Double = 2

    @Option(help: "Append the results as JSON lines to this file.")
    var json: String?

    func run() throws {
        BLAS.setThreads(threads)
        var rows: [String] = []
        print("model              batch  threads  step ex/s   step GFLOP/s  sgemm GFLOP/s  step/sgemm")
        for model in models.split(separator: ";") {
            let shape = try NetworkShape(parsing: String(model), activation: .relu)
            for batch in batches.split(separator: ",").compactMap({ Int($0) }) {
                let result = StepBenchmark(shape: shape, batch: batch, threads: threads).run(seconds: seconds)
                rows.append(result.json)
                print(result.tableRow)
            }
        }
        try appendJSON(rows, to: json)
    }
}

/// `descent-bench distributed`: the coordinator with local workers against the in-process path.
struct DistributedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributed",
        abstract:
            "Train on Fashion-MNIST in-process and with 1, 2, 4 local workers; report examples/s and where a step's time goes."
    )

    @Option(help: "Layer sizes.")
    var layers: String = "784,256,128,10"

    @Option(help: "Worker counts to measure, comma-separated.")
    var workers: String = "1,2,4"

    @Option(help: "Examples per worker per step (the global batch is this times the worker count; 0 = full batch).")
    var batchPerWorker: Int = 512

    @Option(help: "Steps per run (the first tenth is not counted).")
    var steps: Int = 200

    @Option(help: "Dataset spec, as for coordinator train.")
    var dataset: String = "fashion-mnist"

    @Option(help: "Append the results as JSON lines to this file.")
    var json: String?

    func run() throws {
        let runner = TrainingRun(coordinator: TrainingRun.sibling("coordinator"))
        print(
            "workers  global batch  ex/s (median step)  vs in-process  step ms  compute ms/worker (slowest)  comm ms  comm share  imbalance ms  coordinator RSS MB  worker RSS MB (bound)"
        )
        var rows: [String] = []
        for count in workers.split(separator: ",").compactMap({ Int($0) }) {
            let batch = batchPerWorker * count
            let base = try runner.run(
                mode: ["--in-process"], layers: layers, batch: batch, steps: steps, dataset: dataset)
            let run = try runner.run(
                mode: ["--local-workers", String(count)], layers: layers, batch: batch, steps: steps, dataset: dataset)
            let computePerWorker = run.compute / Double(count)
            // Communication not overlapped with compute: what the step takes beyond the slowest
            // worker's compute, the coordinator's own work after the last partial included.
            // Workers that finish before the slowest wait for it: that is load imbalance, apart
            // (the two together are the step beyond the mean compute).
            let communication = max(0, run.beyondSlowest)
            let imbalance = max(0, run.computeSlowest - computePerWorker)
            let share = String(format: "%.0f%%", 100 * communication / run.step)
            let computeCell = String(format: "%.2f (%.2f)", computePerWorker * 1000, run.computeSlowest * 1000)
            print(
                String(
                    format: "%-9d%-14d%-20.0f%-15.2f%-9.2f",
                    count, batch, run.examplesPerSecond, run.examplesPerSecond / base.examplesPerSecond, run.step * 1000
                )
                    + computeCell.padding(toLength: 29, withPad: " ", startingAt: 0)
                    + String(format: "%-9.2f", communication * 1000)
                    + share.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(
                        format: "%-14.2f%-20.0f%.0f (%.0f)", imbalance * 1000, Double(run.peakKilobytes) / 1024,
                        Double(run.workerPeakKilobytes) / 1024,
                        try workerBound(workers: count, batch: batch) / 1_048_576))
            var line = JSONLine()
            line.add("bench", "distributed")
            line.add("layers", layers)
            line.add("workers", count)
            line.add("global_batch", batch)
            line.add("examples_per_s", run.examplesPerSecond)
            line.add("in_process_examples_per_s", base.examplesPerSecond)
            line.add("step_s", run.step)
            line.add("compute_s_per_worker", computePerWorker)
            line.add("compute_s_slowest", run.computeSlowest)
            line.add("communication_s", communication)
            line.add("communication_share", communication / run.step)
            line.add("imbalance_s", imbalance)
            line.add("beyond_mean_compute_share", (communication + imbalance) / run.step)
            line.add("bytes_per_step", run.bytesPerStep)
            line.add("coordinator_peak_rss_kb", run.peakKilobytes)
            line.add("worker_peak_rss_kb", run.workerPeakKilobytes)
            line.add("worker_rss_bound_kb", Int(try workerBound(workers: count, batch: batch) / 1024))
            rows.append(line.text)
        }
        try appendJSON(rows, to: json)
    }
}

extension DistributedCommand {
    /// Issue 6's bound on a worker's peak RSS: 1.5 × (its shard's bytes + 4 × the parameters'
    /// bytes + its batch's activations). Fashion-MNIST's 60,000 examples are assumed.
    func workerBound(workers: Int, batch: Int) throws -> Double {
        let shape = try NetworkShape(parsing: layers, activation: .relu)
        let examples = 60_000.0 / Double(workers)
        let perWorker = batch == 0 ? examples : Double(batch / workers)
        let shardBytes = examples * Double(shape.inputs * 4 + 4)
        let parameterBytes = Double(ParameterLayout(shape: shape).count * 4)
        let activationBytes = perWorker * Double(shape.layers.reduce(0, +)) * 4
        return 1.5 * (shardBytes + 4 * parameterBytes + activationBytes)
    }
}

func appendJSON(_ rows: [String], to path: String?) throws {
    guard let path else { return }
    let text = rows.joined(separator: "\n") + "\n"
    if let handle = FileHandle(forWritingAtPath: path) {
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    } else {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
