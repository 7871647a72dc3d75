import Foundation

/// The launchers under `deploy/` as the deployment tests read them: which files are shell
/// scripts, what their YAML says, and which Descent flags they pass to which executable.
enum DeployFiles {
    static let root = Binaries.packageRoot.appendingPathComponent("deploy").path

    /// `deploy/RELATIVE`.
    static func path(_ relative: String) -> String { (root as NSString).appendingPathComponent(relative) }

    /// Every file under deploy/ (relative paths, sorted).
    static func all() -> [String] {
        let names = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path(name), isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }.sorted()
    }

    /// The files whose first line is a bash or sh shebang.
    static func shellScripts() -> [String] {
        all().filter { name in
            guard let text = try? String(contentsOfFile: path(name), encoding: .utf8),
                let first = text.split(separator: "\n", maxSplits: 1).first
            else { return false }
            return first.hasPrefix("#!") && (first.hasSuffix("bash") || first.hasSuffix("/sh"))
        }
    }

    static func text(_ relative: String) throws -> String {
        try String(contentsOfFile: path(relative), encoding: .utf8)
    }
}

/// YAML files as JSON-compatible values, read by PyYAML (`yaml.safe_load_all`): the test target
/// links no YAML parser of its own, and PyYAML is the reference most Kubernetes tooling agrees with.
enum YAMLDocuments {
    private static let loader = """
        import json, sys, yaml
        json.dump({p: list(yaml.safe_load_all(open(p))) for p in sys.argv[1:]}, sys.stdout)
        """

    /// The documents of each file, by path.
    static func load(_ paths: [String], in scratch: ScratchDirectory) async throws -> [String: [Any]] {
        let python = try await pythonWithYAML(in: scratch)
        let outcome = try await LaunchedProcess.run(python, ["-c", loader] + paths, in: scratch, timeout: .seconds(60))
        guard outcome.succeeded,
            let parsed = try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: [Any]]
        else {
            throw HarnessError.malformedOutput("PyYAML could not read the YAML files\n\(outcome.transcript)")
        }
        return parsed
    }

    /// A python3 that imports yaml: the one on PATH, else Debian's; as root with apt, installs
    /// python3-yaml first. Otherwise the test fails with what to install — a check that cannot
    /// read the manifests must not pass.
    private static func pythonWithYAML(in scratch: ScratchDirectory) async throws -> String {
        let candidates = ["/usr/bin/env", "/usr/bin/python3"]
        func works(_ executable: String) async -> Bool {
            let arguments = executable == "/usr/bin/env" ? ["python3", "-c", "import yaml"] : ["-c", "import yaml"]
            guard FileManager.default.isExecutableFile(atPath: executable),
                let probe = try? await LaunchedProcess.run(executable, arguments, in: scratch, timeout: .seconds(30))
            else { return false }
            return probe.succeeded
        }
        for candidate in candidates where await works(candidate) {
            return candidate == "/usr/bin/env" ? try resolvedPython3() : candidate
        }
        if getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get") {
            _ = try? await LaunchedProcess.run(
                "/usr/bin/apt-get", ["install", "-y", "-qq", "python3-yaml"],
                environment: ["DEBIAN_FRONTEND": "noninteractive"], in: scratch, timeout: .seconds(300))
            if await works("/usr/bin/python3") { return "/usr/bin/python3" }
        }
        throw HarnessError.setup(
            "no python3 with PyYAML to read the manifests: apt-get install python3-yaml (or pip install pyyaml)")
    }

    /// The python3 that PATH names, as an absolute path.
    private static func resolvedPython3() throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in directories {
            let candidate = (directory as NSString).appendingPathComponent("python3")
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw HarnessError.setup("python3 is not on PATH")
    }
}

/// The flags each executable documents in its `--help`.
struct HelpFlags {
    let train: Set<String>
    let keygen: Set<String>
    let worker: Set<String>

    var any: Set<String> { train.union(keygen).union(worker) }

    static func read(in scratch: ScratchDirectory) async throws -> HelpFlags {
        func flags(_ executable: String, _ arguments: [String]) async throws -> Set<String> {
            let outcome = try await LaunchedProcess.run(executable, arguments, in: scratch, timeout: .seconds(30))
            guard outcome.succeeded else { throw HarnessError.malformedOutput("\(outcome.transcript)") }
            return FlagTokens.in(outcome.stdout + outcome.stderr)
        }
        let coordinator = try Binaries.coordinator()
        let worker = try Binaries.worker()
        return HelpFlags(
            train: try await flags(coordinator, ["train", "--help"]),
            keygen: try await flags(coordinator, ["keygen", "--help"]),
            worker: try await flags(worker, ["--help"]))
    }
}

/// `--flag` tokens, and which executable a shell command line hands them to.
enum FlagTokens {
    /// Every `--name` in `text` (the name only, without `=value`), not inside a longer word.
    static func `in`(_ text: String) -> Set<String> {
        Set(occurrences(text))
    }

    static func occurrences(_ text: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "(?<![A-Za-z0-9_-])--[a-z][a-z0-9-]*")
        let range = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: range).map { String(text[Range($0.range, in: text)!]) }
    }

    /// The script's logical lines: backslash continuations joined.
    static func logicalLines(_ script: String) -> [String] {
        var lines: [String] = []
        var current = ""
        for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("\\") {
                current += line.dropLast() + " "
            } else {
                lines.append(current + line)
                current = ""
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    enum Target: String {
        case train = "coordinator train"
        case keygen = "coordinator keygen"
        case worker
        case unknown = "coordinator or worker"
    }

    /// Which executable a logical line runs: `coordinator keygen`, `coordinator train`, the
    /// worker (`"$bin/worker"`, `./worker`, `/path/worker`), or none that can be told (an array
    /// of flags, say).
    static func target(of line: String) -> Target {
        if line.range(of: #"coordinator"? +keygen"#, options: .regularExpression) != nil { return .keygen }
        if line.range(of: #"coordinator"? +train"#, options: .regularExpression) != nil { return .train }
        if line.range(of: #"(/|\./)worker(["' ]|$)"#, options: .regularExpression) != nil { return .worker }
        return .unknown
    }

    /// The options a script parses itself: the `--name)` patterns of its `case` statements.
    static func ownOptions(of script: String) -> Set<String> {
        let pattern = try! NSRegularExpression(
            pattern: #"^\s*((?:-[A-Za-z]\|)?--[a-z][a-z0-9-]*(?:\|-[A-Za-z])?)\)"#, options: .anchorsMatchLines)
        let range = NSRange(script.startIndex..., in: script)
        return Set(
            pattern.matches(in: script, range: range).flatMap { match in
                String(script[Range(match.range(at: 1), in: script)!]).split(separator: "|").map(String.init).filter {
                    $0.hasPrefix("--")
                }
            })
    }
}
