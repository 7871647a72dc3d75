import ArgumentParser
import Core

/// What `evaluate` and `predict` share: a saved model, and the BLAS threads to run it with.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model weights (safetensors, as `train --out` writes them; a checkpoint works too).")
    var model: String

    @Option(help: "BLAS threads.")
    var threads: Int = 1

    /// Pins the threads and reads the model.
    func load() throws -> ModelFile.Loaded {
        BLAS.setThreads(threads)
        return try ModelFile.load(model)
    }
}
