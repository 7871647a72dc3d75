import Foundation

/// The flags docs/CLI.md promises for each command, read from the document itself so that a flag
/// added to the contract is checked without touching the tests.
struct ContractFlags {
    /// Keyed by command: `train`, `evaluate`, … for `coordinator`'s subcommands, `worker` for the
    /// worker executable.
    let flags: [String: [String]]

    /// `$DESCENT_CONTRACT`, or the package's own `docs/CLI.md`.
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["DESCENT_CONTRACT"], !path.isEmpty { return path }
        return Binaries.packageRoot.appendingPathComponent("docs/CLI.md").path
    }

    /// Reads the train table (every backticked `--flag` in its rows) and the "Other commands"
    /// list (the flags in each item's leading backticked synopsis).
    static func read(from path: String = ContractFlags.path) throws -> ContractFlags {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw HarnessError.setup("cannot read the contract at \(path) (set DESCENT_CONTRACT to its path)")
        }
        var flags: [String: [String]] = [:]
        var section = ""
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("#") {
                section = line
                continue
            }
            if section.hasPrefix("### coordinator train"), line.hasPrefix("|") {
                flags["train", default: []] += backticked(line).flatMap(flagNames)
            } else if section.hasPrefix("### Other commands"), line.hasPrefix("- "),
                let synopsis = backticked(line).first
            {
                let words = synopsis.split(separator: " ").map(String.init)
                guard let program = words.first else { continue }
                let command = program == "coordinator" && words.count > 1 ? words[1] : program
                flags[command, default: []] += flagNames(synopsis)
            }
        }
        return ContractFlags(flags: flags.mapValues { Array(Set($0)).sorted() })
    }

    /// The text between each pair of backticks.
    private static func backticked(_ line: String) -> [String] {
        let pieces = line.components(separatedBy: "`")
        return stride(from: 1, to: pieces.count - 1, by: 2).map { pieces[$0] }
    }

    /// Every `--name` in `text`.
    static func flagNames(_ text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: "--") {
            let name = rest[start.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if let first = name.first, first.isLetter { names.append("--" + name) }
            rest = rest[start.upperBound...].dropFirst(name.count)
        }
        return names
    }
}

/// What `--help` says a command takes, from ArgumentParser's option list: each line that starts
/// with two spaces and a flag (`  --lr <lr>`, `  -h, --help`, `  --quiet/--no-quiet`) defines one
/// (an inversion pair defines both); continuation lines are indented further.
struct HelpListing {
    /// Each defined flag, and whether it takes a value (`<…>` follows it).
    let definitions: [(flag: String, takesValue: Bool)]

    init(_ help: String) {
        var found: [(String, Bool)] = []
        for line in help.components(separatedBy: "\n") {
            guard line.hasPrefix("  -"), !line.hasPrefix("   ") else { continue }
            let words = line.dropFirst(2).split(separator: " ").map { String($0.hasSuffix(",") ? $0.dropLast() : $0) }
            guard let index = words.firstIndex(where: { $0.hasPrefix("--") }) else { continue }
            let takesValue = index + 1 < words.count && words[index + 1].hasPrefix("<")
            for flag in words[index].split(separator: "/") { found.append((String(flag), takesValue)) }
        }
        definitions = found
    }

    var flags: [String] { definitions.map(\.flag) }
}
