import ArgumentParser
import Foundation
import Yams

/// `train --config run.yaml`: a YAML mapping whose keys are `train`'s flag names without the
/// dashes (`lr: 0.05`, `local-workers: 2`, `in-process: true`, `layers: [784, 256, 10]`,
/// `hidden: [256, 128]`, `standardize: true`).
///
/// The file becomes flags placed before the command line's own, so a flag given on the command
/// line wins (the last occurrence of an option is the one that counts). `--config FILE` itself
/// stays, for `--print-config` to name.
enum ConfigFile {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// The arguments with `--config FILE` replaced by the flags the file holds.
    static func expand(_ arguments: [String]) throws -> [String] {
        let subcommands = ["evaluate", "predict", "keygen", "plot", "inspect", "export", "help"]
        if let first = arguments.first, subcommands.contains(first) { return arguments }
        var path: String?
        if let index = arguments.firstIndex(of: "--config") {
            guard index + 1 < arguments.count else { throw Problem(description: "--config needs a file") }
            path = arguments[index + 1]
        } else if let argument = arguments.first(where: { $0.hasPrefix("--config=") }) {
            path = String(argument.dropFirst("--config=".count))
        }
        guard let path else { return arguments }
        var flags = try flags(from: path)
        // Who computes is one choice: a mode on the command line replaces the file's.
        let modes: Set<String> = ["--in-process", "--workers", "--local-workers"]
        if arguments.contains(where: { modes.contains($0) }) {
            var kept: [String] = []
            var index = 0
            while index < flags.count {
                if modes.contains(flags[index]) {
                    index += flags[index] == "--in-process" ? 1 : 2
                    continue
                }
                kept.append(flags[index])
                index += 1
            }
            flags = kept
        }
        if arguments.first == "train" { return ["train"] + flags + arguments.dropFirst() }
        return flags + arguments
    }

    /// The flags a config file stands for, checked key by key against `train`'s options.
    static func flags(from path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "--config \(path): no such file, or not readable")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw Problem(description: "\(path): not valid YAML: \(error)")
        }
        guard let node else { return [] }
        guard let mapping = node.mapping else {
            throw Problem(description: "\(path): expected a mapping of flag names to values at the top level")
        }
        let known = TrainCommand.configKeys
        var flags: [String] = []
        /// Where each key was first given: YAML keeps a repeated key, and the command line would
        /// take the last one without a word.
        var seen: [String: String] = [:]
        for (keyNode, value) in mapping {
            let line = keyNode.mark.map { "line \($0.line)" } ?? "?"
            guard let key = keyNode.string else {
                throw Problem(description: "\(path) \(line): a key must be a flag name")
            }
            if let first = seen[key] {
                throw Problem(description: "\(path) \(line): '\(key)' is given twice (first at \(first))")
            }
            seen[key] = line
            guard let kind = known[key] else {
                throw Problem(
                    description:
                        "\(path) \(line): unknown key '\(key)' (keys are train's flags without dashes; see coordinator train --help)"
                )
            }
            switch (kind, value) {
            case (.flag, .scalar(let scalar)):
                guard let on = Bool.construct(from: scalar) else {
                    throw Problem(description: "\(path) \(line): '\(key)' takes true or false, got '\(scalar.string)'")
                }
                if on { flags.append("--\(key)") }
            case (.option, .scalar(let scalar)):
                flags += ["--\(key)", scalar.string]
            case (.option, .sequence(let items)) where key == "layers" || key == "hidden":
                let sizes = items.compactMap(\.scalar?.string)
                guard sizes.count == items.count else {
                    throw Problem(description: "\(path) \(line): '\(key)' must list numbers")
                }
                flags += ["--\(key)", sizes.joined(separator: ",")]
            default:
                throw Problem(description: "\(path) \(line): '\(key)' takes a single value")
            }
        }
        return flags
    }
}
