import Foundation
import Testing

extension EndToEnd {
    /// `train --config run.yaml`: the file stands for its flags to the bit, the command line
    /// overrides it, `--print-config` writes a file that reproduces the run, and a bad file is
    /// refused before anything is written.
    @Suite("config files")
    struct ConfigTests {
        /// Every setting differs from its default, so a key the file loses changes the bits.
        static let yaml = """
            # a small momentum run on the synthetic CSV
            in-process: true
            dataset: csv:data.csv
            layers:
              - 8
              - 16
              - 8
              - 3
            lr: 0.05
            batch: 64
            steps: 30
            seed: 7
            optimizer: momentum
            momentum: 0.8
            out: yaml.safetensors
            metrics: yaml.jsonl

            """

        /// The same settings as flags, but for `--out` and `--metrics`.
        static func flags(out: String, metrics: String) -> [String] {
            [
                "train", "--in-process", "--dataset", "csv:data.csv", "--layers", "8,16,8,3", "--lr", "0.05", "--batch",
                "64",
                "--steps", "30", "--seed", "7", "--optimizer", "momentum", "--momentum", "0.8", "--out", out,
                "--metrics", metrics,
            ]
        }

        /// A scratch directory holding data.csv (the harness's synthetic set) and run.yaml.
        static func prepare(_ label: String) throws -> ScratchDirectory {
            let scratch = try ScratchDirectory(label)
            try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            try yaml.write(toFile: scratch.file("run.yaml"), atomically: true, encoding: .utf8)
            return scratch
        }

        @discardableResult
        static func train(
            _ arguments: [String], in scratch: ScratchDirectory, sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> ProcessOutcome {
            let outcome = try await Descent.coordinator(arguments, in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)", sourceLocation: sourceLocation)
            return outcome
        }

        @Test func aConfigFileReproducesTheSameFlagsBitForBit() async throws {
            let scratch = try Self.prepare("config")
            try await Self.train(["train", "--config", "run.yaml"], in: scratch)
            try await Self.train(Self.flags(out: "flags.safetensors", metrics: "flags.jsonl"), in: scratch)

            #expect(
                try ModelComparison.sameBytes(scratch.file("yaml.safetensors"), scratch.file("flags.safetensors")),
                "--config run.yaml and the same flags wrote different weights")
            let fromFile = try MetricsFile(path: scratch.file("yaml.jsonl")).steps
            let fromFlags = try MetricsFile(path: scratch.file("flags.jsonl")).steps
            #expect(fromFile.count == 30, "\(fromFile.count) step lines in the config's metrics file")
            #expect(
                fromFile.map { $0.double("loss") } == fromFlags.map { $0.double("loss") }, "the two runs' losses differ"
            )
        }

        @Test func aCommandLineFlagOverridesTheFile() async throws {
            let scratch = try Self.prepare("config-override")
            try await Self.train(["train", "--config", "run.yaml"], in: scratch)
            try await Self.train(
                ["train", "--config", "run.yaml", "--seed", "2", "--out", "yaml-seed2.safetensors"], in: scratch)
            var seed2 = Self.flags(out: "flags-seed2.safetensors", metrics: "flags-seed2.jsonl")
            seed2[seed2.firstIndex(of: "--seed")! + 1] = "2"
            try await Self.train(seed2, in: scratch)

            #expect(
                try ModelComparison.sameBytes(
                    scratch.file("yaml-seed2.safetensors"), scratch.file("flags-seed2.safetensors")),
                "--config run.yaml --seed 2 differs from the flags with --seed 2")
            #expect(
                try !ModelComparison.sameBytes(
                    scratch.file("yaml-seed2.safetensors"), scratch.file("yaml.safetensors")),
                "--seed 2 on the command line did not change the file's seed-7 run")
        }

        /// Who computes is a setting like any other: a file that says `local-workers: 2` run with
        /// `--in-process` on the command line is the reference path, as if the file said so.
        @Test func aCommandLineModeOverridesTheFilesMode() async throws {
            let scratch = try Self.prepare("config-mode")
            let distributed = Self.yaml.replacingOccurrences(of: "in-process: true", with: "local-workers: 2")
            try distributed.write(toFile: scratch.file("distributed.yaml"), atomically: true, encoding: .utf8)
            try await Self.train(Self.flags(out: "flags.safetensors", metrics: "flags.jsonl"), in: scratch)

            let outcome = try await Self.train(["train", "--config", "distributed.yaml", "--in-process"], in: scratch)
            #expect(try outcome.summary().int("workers") == 1, "\(outcome.transcript)")
            #expect(
                try ModelComparison.sameBytes(scratch.file("yaml.safetensors"), scratch.file("flags.safetensors")),
                "--in-process over the file's local-workers differs from the flag run")
        }

        /// `--print-config`'s YAML, saved and given back with `--config` and nothing else, writes
        /// the very same bytes: from a config file with an override, and from flags alone.
        @Test func printConfigRoundTripsBitForBit() async throws {
            let scratch = try Self.prepare("config-roundtrip")
            var seed2 = Self.flags(out: "flags.safetensors", metrics: "flags.jsonl")
            seed2[seed2.firstIndex(of: "--seed")! + 1] = "2"
            let invocations: [(name: String, arguments: [String], out: String)] = [
                ("file", ["train", "--config", "run.yaml", "--seed", "2"], "yaml.safetensors"),
                ("flags", seed2, "flags.safetensors"),
            ]
            for (name, arguments, out) in invocations {
                let printed = try await Self.train(arguments + ["--print-config"], in: scratch)
                #expect(!scratch.exists(out), "--print-config trained and wrote \(out)")
                #expect(printed.stdout.contains("seed: 2"), "--print-config lost the seed:\n\(printed.stdout)")
                let saved = scratch.file("printed-\(name).yaml")
                try printed.stdout.write(toFile: saved, atomically: true, encoding: .utf8)

                try await Self.train(arguments, in: scratch)
                let original = scratch.file("original-\(name).safetensors")
                try FileManager.default.moveItem(atPath: scratch.file(out), toPath: original)
                try await Self.train(["train", "--config", saved], in: scratch)
                #expect(scratch.exists(out), "the printed config did not write \(out):\n\(printed.stdout)")
                if scratch.exists(out) {
                    #expect(
                        try ModelComparison.sameBytes(original, scratch.file(out)),
                        "\(name): the --print-config round trip wrote different weights; the printed config:\n\(printed.stdout)"
                    )
                }
            }
        }

        // MARK: Refused files

        /// A config that would train and write out.safetensors and out.jsonl, but for `line`,
        /// which replaces the line of key `replacing`, or goes after the layers list.
        struct BadConfig: Sendable, CustomTestStringConvertible {
            let line: String
            var replacing: String?
            /// What the first stderr line must name.
            let named: [String]

            var testDescription: String { line }

            /// The file's lines: a comment, then the settings.
            var text: String {
                var lines = [
                    "# one bad line in an otherwise runnable config", "in-process: true", "dataset: csv:data.csv",
                    "layers:", "  - 8", "  - 16", "  - 3", "steps: 5", "out: out.safetensors", "metrics: out.jsonl",
                ]
                if let replacing, let index = lines.firstIndex(where: { $0.hasPrefix(replacing + ":") }) {
                    lines[index] = line
                } else {
                    lines.insert(line, at: 7)
                }
                return lines.joined(separator: "\n") + "\n"
            }
        }

        static let badConfigs = [
            BadConfig(line: "learning-rate: 0.1", named: ["bad.yaml", "line 8", "learning-rate"]),
            BadConfig(line: "lr: abc", named: ["--lr", "abc"]),
            BadConfig(line: "batch: 1.5", named: ["--batch", "1.5"]),
            BadConfig(line: "in-process: maybe", replacing: "in-process", named: ["in-process", "maybe"]),
            BadConfig(line: "steps: [5", replacing: "steps", named: ["bad.yaml", "YAML"]),
            BadConfig(line: "  seed: 3", named: ["bad.yaml", "YAML"]),
            BadConfig(line: "steps: 7", named: ["bad.yaml", "line 9", "'steps' is given twice", "line 8"]),
        ]

        @Test(arguments: badConfigs)
        func aBadConfigIsRefusedBeforeAnythingIsWritten(_ config: BadConfig) async throws {
            let scratch = try ScratchDirectory("config-bad")
            try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            try config.text.write(toFile: scratch.file("bad.yaml"), atomically: true, encoding: .utf8)

            let outcome = try await Descent.coordinator(["train", "--config", "bad.yaml"], in: scratch)
            #expect(outcome.failedCleanly, "bad.yaml:\n\(config.text)\n\(outcome.transcript)")
            let reason = outcome.stderrLines.first ?? ""
            for name in config.named {
                #expect(
                    reason.contains(name),
                    "the first stderr line does not name \(name): \(reason)\n\(outcome.transcript)")
            }
            #expect(
                !scratch.exists("out.safetensors") && !scratch.exists("out.jsonl"),
                "a refused config still wrote its outputs")
        }

        @Test func aMissingConfigFileIsRefused() async throws {
            let scratch = try ScratchDirectory("config-missing")
            try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            // Runnable flags, so ignoring the missing file would train and write.
            let outcome = try await Descent.coordinator(
                [
                    "train", "--config", "absent.yaml", "--in-process", "--dataset", "csv:data.csv", "--layers",
                    "8,16,3",
                    "--steps", "5", "--out", "out.safetensors", "--metrics", "out.jsonl",
                ],
                in: scratch)
            #expect(outcome.failedCleanly, "\(outcome.transcript)")
            let reason = outcome.stderrLines.first ?? ""
            #expect(reason.contains("absent.yaml"), "the first stderr line does not name the file: \(reason)")
            #expect(
                !scratch.exists("out.safetensors") && !scratch.exists("out.jsonl"),
                "a missing config still let the run write")
        }
    }
}
