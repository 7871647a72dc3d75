import ArgumentParser
import Core
import Foundation

/// `coordinator export`: a model in a format other runtimes load; for now ONNX.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model as ONNX: input [batch, n0] float32 in, probabilities [batch, nL] out.",
        discussion: """
            The graph is a Gemm and the activation per layer, ending in Softmax (or Sigmoid for one \
            output unit), so onnxruntime gives the probabilities `predict` prints. A model that \
            carries standardize.mean and standardize.std applies (x − mean) / std first.
            """
    )

    /// The formats `export` writes.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case onnx
    }

    @Option(help: "Model weights (safetensors, as `train --out` writes them; a checkpoint works too).")
    var model: String

    @Option(help: "The format to write (onnx: opset \(ONNXModel.exportOpset)).")
    var format: Format

    @Option(help: "The file to write (atomically; nothing is written on an error).")
    var out: String

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out needs a file name") }
        let (source, target) = (URL(fileURLWithPath: model), URL(fileURLWithPath: out))
        guard
            source.standardizedFileURL.resolvingSymlinksInPath() != target.standardizedFileURL.resolvingSymlinksInPath()
        else {
            throw ValidationError("--out \(out) is the model itself; write the export to another file")
        }
    }

    func run() throws {
        let file = try SafetensorsFile.read(from: model)
        switch format {
        case .onnx:
            let onnx = try ONNXModel(exporting: file, path: model)
            let bytes = onnx.serialized()
            do {
                try AtomicFile.write(bytes, to: out)
            } catch {
                throw ConfigurationError.invalid(
                    field: "--out", reason: "cannot write \(out): \(String(cString: strerror(error.errno)))")
            }
            let layers = onnx.metadata.first { $0.key == "layers" }?.value ?? "?"
            print("wrote \(out): ONNX opset \(onnx.opsetVersion), layers \(layers), \(bytes.count) bytes")
        }
    }
}
