import ArgumentParser
import Core

/// `train --shards K|auto` (also a config file's `shards:`).
enum ShardCount: Equatable, ExpressibleByArgument {
    case count(Int)
    /// `ShardPlan.automaticCount` for the batch and the worker count, or a resumed run's count.
    case auto

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let count = Int(argument) {
            self = .count(count)
        } else {
            return nil
        }
    }

    var argument: String {
        switch self {
        case .count(let count): String(count)
        case .auto: "auto"
        }
    }

    static var allValueStrings: [String] { ["auto"] }
}
