import ArgumentParser

/// `coordinator`: trains a network over sharded data, and works with the models it writes.
@main
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Descent's coordinator: data-parallel training of dense networks, exact to the bit.",
        subcommands: [
            TrainCommand.self, EvaluateCommand.self, PredictCommand.self, KeygenCommand.self, PlotCommand.self,
            InspectCommand.self,
        ],
        defaultSubcommand: TrainCommand.self
    )

    /// Expands `train --config FILE` into flags before the usual parsing.
    static func main() {
        let arguments: [String]
        do {
            arguments = try ConfigFile.expand(Array(CommandLine.arguments.dropFirst()))
        } catch {
            exit(withError: error)
        }
        main(arguments)
    }
}
