import ArgumentParser
import Core
import Foundation

/// `descent-bench optimizer`: one optimizer update of a whole model, for each rule, on one thread.
struct OptimizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimizer",
        abstract:
            "Time one update of every parameter (apply in place; the checked update into a new buffer) for sgd, momentum and adam, and Adam's arrays streamed with no arithmetic (memory), in ms."
    )

    @Option(help: "Layer sizes.")
    var layers: String = "784,256,128,10"

    @Option(help: "Rules to time, comma-separated.")
    var kinds: String = "sgd,momentum,adam"

    @Option(help: "L2 weight decay λ.")
    var weightDecay: Float = 0

    @Option(help: "Examples the gradient is summed over (the m of Σ/m).")
    var batch: Int = 128

    @Option(
        help:
            "Adam's step numbers t to time it at, comma-separated (its first bias correction divides until 1 − 0.9ᵗ rounds to 1, at t = 165)."
    )
    var adamSteps: String = "10,1000"

    @Option(help: "Timed updates of each kind and way (after the warm-up); the median is reported.")
    var repetitions: Int = 1000

    @Option(help: "Untimed updates before the timed ones.")
    var warmUp: Int = 50

    @Option(help: "Append the results as JSON lines to this file.")
    var json: String?

    func run() throws {
        let shape = try NetworkShape(parsing: layers, activation: .relu)
        let layout = ParameterLayout(shape: shape)
        var rows: [String] = []
        print("optimizer      parameters  apply ms  update ms  update ns/parameter")
        for name in kinds.split(separator: ",") {
            guard let kind = OptimizerKind(rawValue: String(name)) else {
                throw ValidationError("no optimizer \(name): sgd, momentum or adam")
            }
            var settings = OptimizerSettings(kind: kind)
            settings.weightDecay = weightDecay
            let steps: [Int?] = kind == .adam ? adamSteps.split(separator: ",").compactMap { Int($0) } : [nil]
            for step in steps {
                let apply = median(of: Run(settings: settings, layout: layout, batch: batch, step: step).apply)
                let update = median(of: Run(settings: settings, layout: layout, batch: batch, step: step).update)
                rows.append(report(String(name), step: step, count: layout.count, apply: apply, update: update))
            }
        }
        let streams = Streams(count: layout.count)
        rows.append(
            report(
                "memory", step: nil, count: layout.count, apply: median(of: streams.inPlace),
                update: median(of: streams.outOfPlace)))
        try appendJSON(rows, to: json)
    }

    /// Prints a row of the table; its JSON line.
    private func report(_ name: String, step: Int?, count: Int, apply: Double, update: Double) -> String {
        let label = step.map { "\(name) t=\($0)" } ?? name
        print(
            label.padding(toLength: 15, withPad: " ", startingAt: 0)
                + String(
                    format: "%-12d%-10.4f%-11.4f%.2f", count, apply * 1e3, update * 1e3, update * 1e9 / Double(count)))
        var line = JSONLine()
        line.add("bench", "optimizer")
        line.add("layers", layers)
        line.add("optimizer", name)
        if let step { line.add("t", step) }
        line.add("weight_decay", Double(weightDecay))
        line.add("batch", batch)
        line.add("parameters", count)
        line.add("apply_s", apply)
        line.add("update_s", update)
        return line.text
    }

    /// Median seconds of `body` over `repetitions` calls, each timed alone, after `warmUp`.
    private func median(of body: () -> Void) -> Double {
        for _ in 0..<warmUp { body() }
        var samples: [Double] = []
        samples.reserveCapacity(repetitions)
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        samples.sort()
        return samples[samples.count / 2]
    }
}

/// An optimizer, parameters as the initializer makes them and a gradient sum of ordinary size:
/// the updates stay finite and well away from subnormals however many are timed.
private final class Run {
    let optimizer: Optimizer
    let parameters: ParameterBuffer
    let gradientSum: ParameterBuffer
    let next: ParameterBuffer
    let batch: Int
    /// The step number every timed update is (`nil`: the updates count on).
    let step: Int?

    init(settings: OptimizerSettings, layout: ParameterLayout, batch: Int, step: Int?) {
        optimizer = Optimizer(settings: settings, layout: layout)
        parameters = ParameterBuffer(layout: layout)
        Initializer.initialize(parameters, seed: 1)
        gradientSum = ParameterBuffer(layout: layout)
        var rng = Xoshiro256(seed: 2)
        for i in 0..<layout.count { gradientSum.values[i] = Float(rng.nextUnit() * 2 - 1) * Float(batch) * 0.01 }
        next = ParameterBuffer(layout: layout)
        self.batch = batch
        self.step = step
    }

    /// W, b updated in place, unchecked.
    func apply() {
        if let step { optimizer.updates = step - 1 }
        optimizer.apply(to: parameters, gradientSum: gradientSum, exampleCount: batch, learningRate: 1e-4)
    }

    /// The checked update into `next`, committed (the trainer's way); W, b stay as they are.
    func update() {
        if let step { optimizer.updates = step - 1 }
        let finite = optimizer.update(
            parameters, gradientSum: gradientSum, exampleCount: batch, learningRate: 1e-4, into: next)
        precondition(finite, "the benchmark's update overflowed")
    }
}

/// Adam's arrays streamed with no arithmetic, what its update cannot beat: W, Σ and the two
/// moments read, and W and the moments written back (`inPlace`, as `apply`) or written to three
/// other arrays (`outOfPlace`, as the checked update).
private final class Streams {
    typealias Vector = SIMD8<Float>
    let count: Int
    let arrays: [UnsafeMutablePointer<Float>]
    /// Σ's lanes added up, so that reading Σ is not optimised away.
    var checksum = Vector.zero

    init(count: Int) {
        self.count = count
        arrays = (0..<7).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 1, count: count)
            return p
        }
    }

    deinit { for p in arrays { p.deallocate() } }

    func inPlace() { stream(into: arrays[0], arrays[2], arrays[3]) }

    func outOfPlace() { stream(into: arrays[4], arrays[5], arrays[6]) }

    private func stream(
        into out: UnsafeMutablePointer<Float>, _ outFirst: UnsafeMutablePointer<Float>,
        _ outSecond: UnsafeMutablePointer<Float>
    ) {
        let (w, sum, first, second) = (arrays[0], arrays[1], arrays[2], arrays[3])
        func load(_ p: UnsafeMutablePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }
        func store(_ x: Vector, _ p: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(p).storeBytes(of: x, as: Vector.self)
        }
        var total = Vector.zero
        for i in stride(from: 0, to: count - Vector.scalarCount + 1, by: Vector.scalarCount) {
            let (x, s, m1, m2) = (load(w + i), load(sum + i), load(first + i), load(second + i))
            total += s
            store(x, out + i)
            store(m1, outFirst + i)
            store(m2, outSecond + i)
        }
        checksum += total
    }
}
