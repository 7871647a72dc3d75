import ArgumentParser
import Core
import Foundation

/// `coordinator`: trains a network over sharded data, and works with the models it writes.
@main
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Descent's coordinator: data-parallel training of dense networks, exact to the bit.",
        version: DescentVersion.text,
        subcommands: [
            TrainCommand.self, EvaluateCommand.self, PredictCommand.self, KeygenCommand.self, PlotCommand.self,
            InspectCommand.self, ExportCommand.self,
        ],
        defaultSubcommand: TrainCommand.self
    )

    /// Expands `train --config FILE` into flags before the usual parsing.
    static func main() {
        let given = Array(CommandLine.arguments.dropFirst())
        // A bare `coordinator` shows what it can do, rather than train's complaint about flags.
        if given.isEmpty { main(["--help"]) }
        if let first = given.first, !first.hasPrefix("-"), !subcommandNames.contains(first) {
            let guess = closestSubcommand(to: first).map { "; did you mean '\($0)'?" } ?? ""
            FileHandle.standardError.write(
                Data(
                    "Error: unknown command '\(first)'\(guess) (commands: \(subcommandNames.joined(separator: ", ")))\n"
                        .utf8))
            Foundation.exit(64)
        }
        let arguments: [String]
        do {
            arguments = ResumeSettings.expand(try ConfigFile.expand(given))
        } catch {
            exit(withError: error)
        }
        main(arguments)
    }

    static var subcommandNames: [String] {
        configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"]
    }

    /// The subcommand within two edits of `word`, if one is.
    static func closestSubcommand(to word: String) -> String? {
        let scored = subcommandNames.map { ($0, EditDistance.between(word.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }
}

/// Levenshtein distance, for "did you mean".
enum EditDistance {
    static func between(_ a: String, _ b: String) -> Int {
        let (x, y) = (Array(a), Array(b))
        var previous = Array(0...y.count)
        for i in 1...max(x.count, 1) where !x.isEmpty {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in stride(from: 1, through: y.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return x.isEmpty ? y.count : previous[y.count]
    }
}
