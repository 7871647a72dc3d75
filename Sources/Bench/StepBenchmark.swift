import Core
import Foundation

/// One training step (forward, backward, sgd update) on a batch held in memory, and the same
/// step's gemms alone through cblas_sgemm, each timed for a while after a warm-up.
struct StepBenchmark {
    let shape: NetworkShape
    let batch: Int
    let threads: Int

    struct Result {
        let shape: NetworkShape
        let batch: Int
        let threads: Int
        let stepExamplesPerSecond: Double
        let stepGFLOPs: Double
        let sgemmGFLOPs: Double

        var tableRow: String {
            func pad(_ s: String, _ n: Int) -> String {
                s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
            }
            return pad(shape.layersText, 19) + pad(String(batch), 7) + pad(String(threads), 9)
                + pad(String(format: "%.0f", stepExamplesPerSecond), 12) + pad(String(format: "%.1f", stepGFLOPs), 14)
                + pad(String(format: "%.1f", sgemmGFLOPs), 15) + String(format: "%.2f", stepGFLOPs / sgemmGFLOPs)
        }

        var json: String {
            var line = JSONLine()
            line.add("bench", "step")
            line.add("layers", shape.layersText)
            line.add("batch", batch)
            line.add("threads", threads)
            line.add("step_examples_per_s", stepExamplesPerSecond)
            line.add("step_gflops", stepGFLOPs)
            line.add("sgemm_gflops", sgemmGFLOPs)
            line.add("ratio", stepGFLOPs / sgemmGFLOPs)
            return line.text
        }
    }

    func run(seconds: Double) -> Result {
        let layout = ParameterLayout(shape: shape)
        let p = ParameterBuffer(layout: layout)
        Initializer.initialize(p, seed: 1)
        let grad = ParameterBuffer(layout: layout)
        let optimizer = Optimizer(settings: OptimizerSettings(kind: .sgd), layout: layout)
        let workspace = Workspace(shape: shape, capacity: batch)
        var rng = Xoshiro256(seed: 7)
        let x = Matrix(rows: shape.inputs, cols: batch)
        for i in 0..<x.count { x.storage[i] = Float(rng.nextUnit()) }
        let labels = (0..<batch).map { _ in Int32(rng.next(below: OutputLayer.labelCount(outputs: shape.outputs))) }

        let stepSeconds = labels.withUnsafeBufferPointer { y in
            time(seconds: seconds) {
                Network.gradientSum(
                    p, input: x.storage, count: batch, labels: y.baseAddress!, workspace: workspace, into: grad)
                optimizer.apply(to: p, gradientSum: grad, exampleCount: batch, learningRate: 0.001)
            }
        }
        let flops = shape.trainingFlopsPerExample * Double(batch)
        return Result(
            shape: shape, batch: batch, threads: threads,
            stepExamplesPerSecond: Double(batch) / stepSeconds,
            stepGFLOPs: flops / stepSeconds / 1e9,
            sgemmGFLOPs: flops / sgemmOnly(seconds: seconds) / 1e9)
    }

    /// The step's gemms — Z = W·A, dW = dZ·Aᵀ, dA = Wᵀ·dZ per layer — and nothing else.
    private func sgemmOnly(seconds: Double) -> Double {
        let n = shape.layers
        let w = (1...shape.depth).map { Matrix(rows: n[$0], cols: n[$0 - 1]) }
        let a = n.map { Matrix(rows: $0, cols: batch) }
        let d = n.map { Matrix(rows: $0, cols: batch) }
        for m in w { for i in 0..<m.count { m.storage[i] = 0.01 } }
        for m in a { for i in 0..<m.count { m.storage[i] = 0.5 } }
        return time(seconds: seconds) {
            for l in 1...shape.depth {
                BLAS.gemm(
                    .none, .none, m: n[l], n: batch, k: n[l - 1], a: w[l - 1].storage, lda: n[l], b: a[l - 1].storage,
                    ldb: n[l - 1], c: a[l].storage, ldc: n[l])
            }
            for l in stride(from: shape.depth, through: 1, by: -1) {
                BLAS.gemm(
                    .none, .transposed, m: n[l], n: n[l - 1], k: batch, a: d[l].storage, lda: n[l], b: a[l - 1].storage,
                    ldb: n[l - 1], c: w[l - 1].storage, ldc: n[l])
                if l > 1 {
                    BLAS.gemm(
                        .transposed, .none, m: n[l - 1], n: batch, k: n[l], a: w[l - 1].storage, lda: n[l],
                        b: d[l].storage, ldb: n[l], c: d[l - 1].storage, ldc: n[l - 1])
                }
            }
        }
    }

    /// Median seconds per call of `body`, over repeated calls for about `seconds` after a warm-up.
    private func time(seconds: Double, _ body: () -> Void) -> Double {
        for _ in 0..<3 { body() }
        var samples: [Double] = []
        let end = Date().addingTimeInterval(seconds)
        while Date() < end || samples.count < 5 {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        samples.sort()
        return samples[samples.count / 2]
    }
}
