import ArgumentParser
import Core
import Foundation

/// What `evaluate` and `predict` share: a saved model, and the BLAS threads to run it with.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model weights (safetensors, as `train --out` writes them; a checkpoint works too).")
    var model: String

    @Option(help: "BLAS threads.")
    var threads: Int = 1

    @Option(
        help: """
            The BLAS kernel to compute with: auto takes the one the model was trained with where this CPU \
            runs it (the training's numbers, to the bit), else the best this CPU runs; or a name.
            """)
    var blasKernel = "auto"

    /// Reads the model, puts this process on its kernel (re-executing it if need be), and pins
    /// the threads.
    func load() throws -> ModelFile.Loaded {
        let loaded = try ModelFile.load(model)
        var notices: [String] = []
        // Said once, by the process that computes (the choice may re-execute this one first).
        _ = try RunArithmetic.choose(
            try KernelChoice.Request(parsing: blasKernel), threads: threads,
            recorded: loaded.metadata["blas_kernel"].map { ($0, model) }
        ) { notices.append($0) }
        for notice in notices { FileHandle.standardError.write(Data("warning: \(notice)\n".utf8)) }
        BLAS.setThreads(threads)
        return loaded
    }
}
