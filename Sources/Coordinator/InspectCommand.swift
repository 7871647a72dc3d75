import ArgumentParser
import Core

/// `coordinator inspect`: what a model or checkpoint file holds, without running it.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a model's or checkpoint's layers, tensors, parameter count and metadata."
    )

    @Argument(help: "A model or checkpoint (safetensors, as `train --out` and `--checkpoint-dir` write them).")
    var file: String

    func run() throws {
        print(try Self.report(file), terminator: "")
    }

    /// The report `inspect` prints; the file is checked as `evaluate` and `--init` would load it.
    static func report(_ path: String) throws -> String {
        let file = try SafetensorsFile.read(from: path)
        let model = try ModelFile.decode(file, path: path)
        let shape = model.shape
        let optimizerTensors = file.tensors.keys.filter { $0.hasPrefix(ModelFile.optimizerPrefix) }.sorted()
        let isCheckpoint = !optimizerTensors.isEmpty || file.metadata["updates"] != nil

        var text = ""
        func field(_ name: String, _ value: String) {
            text += name.padding(toLength: 12, withPad: " ", startingAt: 0) + value + "\n"
        }
        field("file", path)
        field("kind", isCheckpoint ? "checkpoint" : "model")
        field("layers", shape.layers.map(String.init).joined(separator: " → "))
        field("activation", "\(shape.activation.rawValue) (hidden layers)")
        field("output", shape.output.rawValue)
        if model.standardization != nil {
            field(
                "input",
                "standardized: (x − \(Standardization.meanTensor)) / \(Standardization.stdTensor), [\(shape.inputs)] each"
            )
        }

        var rows = [["layer", "tensor", "shape", "parameters"]]
        var total = 0
        for l in 1...shape.depth {
            for (name, dimensions) in [
                ("W\(l)", [shape.layers[l], shape.layers[l - 1]]), ("b\(l)", [shape.layers[l]]),
            ] {
                let count = dimensions.reduce(1, *)
                rows.append([
                    name.hasPrefix("W") ? String(l) : "", name,
                    "[\(dimensions.map(String.init).joined(separator: ", "))]", String(count),
                ])
                total += count
            }
        }
        rows.append(["total", "", "", String(total)])
        text += "\n" + table(rows) + "\n"

        if isCheckpoint {
            let state = optimizerTensors.map { "\($0) \(file.tensors[$0]!.shape)" }
            field(
                "optimizer",
                state.isEmpty
                    ? "\(file.metadata["optimizer"] ?? "the optimizer") keeps no state"
                    : "state present: " + state.joined(separator: ", "))
        }
        text += "metadata\n"
        for key in file.metadata.keys.sorted() { text += "  \(key)=\(file.metadata[key]!)\n" }
        return text
    }

    /// Columns padded to their widest cell; the last (numbers) right-aligned.
    private static func table(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
        return rows.map { row in
            row.indices.map { column in
                let cell = row[column]
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == row.count - 1 ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
