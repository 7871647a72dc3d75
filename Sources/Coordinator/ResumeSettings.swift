import Core
import Foundation
import Synchronization

/// `train --resume DIR` continues the run the checkpoint belongs to: the settings that define it
/// (data, network, optimizer, schedule, batch, seed, shards, length) come from the checkpoint
/// unless the command line gives them, so `coordinator train --local-workers 2 --resume DIR` is
/// enough. A checkpoint records them as `flag.NAME` metadata.
///
/// Of those, the learning rate, its schedule and the run's length may be changed on resume, with
/// a notice (`Checkpoint.adjustableKeys`); the others must match, as before.
enum ResumeSettings {
    /// The flags a checkpoint records and a resume takes from it.
    static let restored = [
        "dataset", "test-dataset", "layers", "hidden", "activation", "standardize", "optimizer", "lr", "momentum",
        "weight-decay", "lr-schedule", "lr-decay-epochs", "lr-decay-factor", "batch", "epochs", "steps", "seed",
        "shards",
    ]

    /// The flags taken from the checkpoint by the last `expand`, for the log.
    static let adopted = Mutex<[String]>([])

    /// The `flag.NAME` metadata that records `command`'s settings in a checkpoint.
    static func record(_ command: TrainCommand) -> [String: String] {
        var recorded: [String: String] = [:]
        for line in command.effectiveConfig.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"), !line.hasPrefix("#") else { continue }
            let key = String(line[..<colon])
            guard restored.contains(key) else { continue }
            var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 {
                value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
            }
            recorded["flag." + key] = value
        }
        return recorded
    }

    /// `arguments` (a `train` command line) with the newest checkpoint's settings put before the
    /// command line's own for every restored flag it does not give; unchanged without `--resume`
    /// or a checkpoint that records them.
    static func expand(_ arguments: [String]) -> [String] {
        if let first = arguments.first, !first.hasPrefix("-"), first != "train" { return arguments }
        guard let directory = value(of: "--resume", in: arguments),
            let name = try? Checkpoint.list(directory).last,
            let metadata = try? SafetensorsFile.read(from: PathName.join(directory, name)).metadata
        else { return arguments }
        let given = Set(arguments.compactMap(flagName))
        // The run's length is one choice: --epochs or --steps on the command line replaces both.
        let lengthGiven = given.contains("epochs") || given.contains("steps")
        var flags: [String] = []
        for key in restored where !given.contains(key) {
            if lengthGiven, key == "epochs" || key == "steps" { continue }
            // --layers and --hidden are one choice too.
            if key == "layers" || key == "hidden", given.contains("layers") || given.contains("hidden") { continue }
            guard let stored = metadata["flag." + key] else { continue }
            if key == "standardize" {
                if stored == "true" { flags.append("--standardize") }
                continue
            }
            flags += ["--" + key, stored]
        }
        adopted.withLock { $0 = flags }
        guard !flags.isEmpty else { return arguments }
        if arguments.first == "train" { return ["train"] + flags + arguments.dropFirst() }
        return flags + arguments
    }

    private static func value(of flag: String, in arguments: [String]) -> String? {
        if let index = arguments.firstIndex(of: flag), index + 1 < arguments.count { return arguments[index + 1] }
        return arguments.first { $0.hasPrefix(flag + "=") }.map { String($0.dropFirst(flag.count + 1)) }
    }

    private static func flagName(_ argument: String) -> String? {
        guard argument.hasPrefix("--") else { return nil }
        return String(argument.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? "")
    }
}
