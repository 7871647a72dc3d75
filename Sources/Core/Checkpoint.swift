import CZlib

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Everything a run needs to go on exactly where it stopped: W, b, the optimizer's state, the
/// step — and, since shuffles derive from (seed, epoch, shard), the shuffle state with it.
///
/// A checkpoint is a safetensors file, `checkpoint-<step>.safetensors`: the model's tensors (so
/// `evaluate` and `--init` can read it), `optimizer.m` and `optimizer.v` when the optimizer has
/// them, and metadata naming the run it belongs to and a CRC-32 of every value, so a damaged file
/// is recognised and skipped for the one before it.
public struct Checkpoint {
    /// What must match for a checkpoint to continue a run bit-exactly.
    public static let runKeys = [
        "layers", "activation", "optimizer", "lr", "batch", "shards", "seed", "examples", "momentum", "weight_decay",
        "schedule", "standardize",
    ]
    /// Of `runKeys`, those a resumed run may change (the learning rate and its schedule, which
    /// follows the run's length): the caller says so; every other key must match.
    public static let adjustableKeys = ["lr", "schedule"]

    public let step: Int
    public let updates: Int
    public let parameters: ParameterBuffer
    public let firstMoment: [Float]?
    public let secondMoment: [Float]?
    public let metadata: [String: String]
    /// The run's input standardization (`--standardize`), stored with the model's tensors.
    public let standardization: Standardization?

    /// How many checkpoints a directory keeps.
    public static let kept = 3

    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "checkpoint-" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits + ".safetensors"
    }

    /// Writes the trainer's state (and the run's standardization) atomically into `directory`,
    /// then removes all but the newest few.
    @discardableResult
    public static func save(
        _ trainer: Trainer, run: [String: String], to directory: String, standardization: Standardization? = nil
    ) throws -> String {
        var file = ModelFile.encode(
            trainer.parameters, step: trainer.step, extraMetadata: run, standardization: standardization)
        if let m = trainer.optimizer.firstMoment {
            file.tensors[ModelFile.optimizerPrefix + "m"] = .init(shape: [m.count], values: m.array)
        }
        if let v = trainer.optimizer.secondMoment {
            file.tensors[ModelFile.optimizerPrefix + "v"] = .init(shape: [v.count], values: v.array)
        }
        file.metadata["updates"] = String(trainer.optimizer.updates)
        file.metadata["checksum"] = String(checksum(file.tensors))
        let path = PathName.join(directory, fileName(step: trainer.step))
        try file.write(to: path)
        for old in try list(directory).dropLast(kept) {
            try? FileManager.default.removeItem(atPath: PathName.join(directory, old))
        }
        return path
    }

    /// Checkpoint files in `directory`, oldest first.
    public static func list(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("checkpoint-") && $0.hasSuffix(".safetensors") }
            .sorted()
    }

    /// The newest checkpoint in `directory` that reads back whole and belongs to this run.
    ///
    /// - Parameter skipped: called with each newer file passed over and why.
    public static func newest(in directory: String, run: [String: String], skipped: (String, String) -> Void) throws
        -> Checkpoint?
    {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory else {
            throw ConfigurationError.invalid(field: "--resume", reason: "'\(directory)' is not a directory")
        }
        for name in try list(directory).reversed() {
            let path = PathName.join(directory, name)
            do {
                return try load(path, run: run)
            } catch let error as ConfigurationError {
                throw error
            } catch {
                skipped(path, "\(error)")
            }
        }
        return nil
    }

    /// Reads one checkpoint, checking its checksum and that it belongs to `run`.
    public static func load(_ path: String, run: [String: String]) throws -> Checkpoint {
        let file = try SafetensorsFile.read(from: path)
        guard let stored = file.metadata["checksum"], stored == String(checksum(file.tensors)) else {
            throw CheckpointError.damaged(path: path, reason: "checksum does not match its contents")
        }
        for key in runKeys where !adjustableKeys.contains(key) && file.metadata[key] != run[key] {
            throw ConfigurationError.invalid(
                field: "--resume",
                reason:
                    "\(path) belongs to a run with \(key)=\(file.metadata[key] ?? "none"), this run has \(key)=\(run[key] ?? "none")"
            )
        }
        let model = try ModelFile.decode(file, path: path)
        guard let step = file.metadata["step"].flatMap(Int.init),
            let updates = file.metadata["updates"].flatMap(Int.init)
        else {
            throw CheckpointError.damaged(path: path, reason: "no step or updates in its metadata")
        }
        let count = model.parameters.count
        let m = file.tensors[ModelFile.optimizerPrefix + "m"]?.values
        let v = file.tensors[ModelFile.optimizerPrefix + "v"]?.values
        guard (m?.count ?? count) == count, (v?.count ?? count) == count else {
            throw CheckpointError.damaged(path: path, reason: "optimizer state does not fit the model")
        }
        return Checkpoint(
            step: step, updates: updates, parameters: model.parameters, firstMoment: m, secondMoment: v,
            metadata: file.metadata, standardization: model.standardization)
    }

    /// CRC-32 (zlib) over every tensor's values, in name order.
    static func checksum(_ tensors: [String: SafetensorsFile.Tensor]) -> UInt {
        var crc: UInt = crc32(0, nil, 0)
        for name in tensors.keys.sorted() {
            tensors[name]!.values.withUnsafeBytes { raw in
                crc = crc32(crc, raw.bindMemory(to: UInt8.self).baseAddress, UInt32(raw.count))
            }
        }
        return crc
    }
}

/// A checkpoint file that cannot be used.
public enum CheckpointError: Error, CustomStringConvertible {
    case damaged(path: String, reason: String)
    case missingState(path: String, reason: String)

    public var description: String {
        switch self {
        case .damaged(let path, let reason): return "\(path): damaged checkpoint: \(reason)"
        case .missingState(let path, let reason): return "\(path): \(reason)"
        }
    }
}
