import Core
import Foundation
import Testing

extension EndToEnd {
    /// The first minute of a new user: setups that could never work are refused before the work,
    /// flags that change nothing are said to, and the commands answer the usual questions.
    @Suite("setups refused before the work; the first minute")
    struct SetupRefusalTests {
        let scratch: ScratchDirectory
        let csv: String
        let out: String

        init() throws {
            scratch = try ScratchDirectory("setup")
            csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            out = scratch.file("out.safetensors")
        }

        func train(_ arguments: [String]) async throws -> ProcessOutcome {
            try await Descent.coordinator(
                ["train", "--dataset", "csv:\(csv)", "--layers", "8,5,3", "--steps", "2", "--out", out] + arguments,
                in: scratch,
                timeout: .seconds(60))
        }

        func expectRefused(
            _ outcome: ProcessOutcome, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(outcome.failedCleanly, "\(outcome.transcript)", sourceLocation: sourceLocation)
            for fragment in mentions {
                #expect(
                    outcome.stderr.contains(fragment), "no \"\(fragment)\" in\n\(outcome.transcript)",
                    sourceLocation: sourceLocation)
            }
            #expect(!FileManager.default.fileExists(atPath: out), "--out was written", sourceLocation: sourceLocation)
        }

        /// 8 × 10⁸ weights (and 10⁸ × batch activations): refused from the flags alone, naming the
        /// bytes, where it used to allocate for 48 s and abort. Far inside the 60 s limit.
        @Test func aHugeNetworkIsRefusedNamingTheBytes() async throws {
            let outcome = try await train(["--in-process", "--layers", "8,100000000,3"])
            expectRefused(
                outcome, mentions: ["--layers", "1200000003 parameters", "bytes", "more than this machine's"])
            #expect(outcome.seconds < 5, "the refusal took \(outcome.seconds) s: something was allocated first")
            let overflow = try await train(["--in-process", "--layers", "8,10000000000,10000000000,3"])
            expectRefused(overflow, mentions: ["--layers", "overflows"])
        }

        @Test func aResumeDirectoryThatDoesNotExistIsAnError() async throws {
            let typo = scratch.file("nockdir")
            let outcome = try await train(["--in-process", "--resume", typo])
            expectRefused(outcome, mentions: ["--resume", "does not exist"])
            #expect(!FileManager.default.fileExists(atPath: typo), "the mistyped directory was created")
            // Named by --checkpoint-dir too: "continue if there is something", a restarted job's way.
            let fresh = scratch.file("fresh")
            let started = try await train(["--in-process", "--checkpoint-dir", fresh, "--resume", fresh])
            #expect(started.succeeded, "\(started.transcript)")
        }

        @Test func outputsThatCannotBeWrittenAreNamed() async throws {
            let file = scratch.file("a-file")
            try Data("x".utf8).write(to: URL(fileURLWithPath: file))
            expectRefused(
                try await train(["--in-process", "--checkpoint-dir", file]),
                mentions: ["--checkpoint-dir", "is a file"])
            let directory = scratch.file("a-directory")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let outcome = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,5,3", "--steps", "2", "--out",
                    directory,
                ], in: scratch)
            #expect(outcome.failedCleanly && outcome.stderr.contains("--out"), "\(outcome.transcript)")
            #expect(!outcome.stderr.contains("NSCocoaErrorDomain") && !outcome.stderr.contains("Domain="))
        }

        @Test func aMinimumAboveTheWorkersIsRefused() async throws {
            expectRefused(
                try await train(["--local-workers", "2", "--min-workers", "3"]),
                mentions: ["--min-workers 3", "2 worker(s)"])
        }

        @Test func flagsThatChangeNothingAreSaidTo() async throws {
            let outcome = try await train([
                "--in-process", "--layers", "8,5,3", "--momentum", "0.5", "--lr-decay-epochs", "3",
            ])
            #expect(outcome.succeeded, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("--momentum has no effect with --optimizer sgd"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("--lr-schedule constant"), "\(outcome.stderr)")
            let quiet = try await train(["--in-process", "--optimizer", "momentum"])
            #expect(quiet.succeeded && !quiet.stderr.contains("no effect"), "\(quiet.transcript)")
        }

        /// Features that say nothing about the label (all zero here): the loss of steps 51–100
        /// stays at chance, log(3), and a warning says the network is not learning. Learnable data
        /// over as many steps draws no such warning.
        @Test func aLossThatStaysAtChanceIsSaid() async throws {
            var blank = LabelledData.synthetic()
            blank.rows = blank.rows.map { $0.map { _ in 0 } }
            // Balanced classes: even the priors are worth nothing, the loss stays at log(3).
            blank.labels = blank.labels.indices.map { $0 % 3 }
            let blankCSV = try blank.write(to: scratch.file("blank.csv"))
            let stuck = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(blankCSV)", "--layers", "8,5,3", "--steps", "120",
                    "--batch", "32", "--out", out,
                ], in: scratch)
            #expect(stuck.succeeded, "\(stuck.transcript)")
            #expect(stuck.stderr.contains("stayed at chance over steps 51–100"), "\(stuck.transcript)")
            let learning = try await Descent.coordinator(
                [
                    "train", "--in-process", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--epochs", "2", "--out",
                    out,
                ],
                in: scratch)
            #expect(learning.succeeded && !learning.stderr.contains("at chance"), "\(learning.transcript)")
        }

        @Test func versionHelpAndMisspeltCommands() async throws {
            for program in [try Binaries.coordinator(), try Binaries.worker()] {
                let version = try await LaunchedProcess.run(program, ["--version"], in: scratch, timeout: .seconds(30))
                #expect(version.succeeded && version.stdout.contains(DescentVersion.text), "\(version.transcript)")
            }
            let bare = try await Descent.coordinator([], in: scratch)
            #expect(bare.succeeded && bare.stdout.contains("SUBCOMMANDS"), "\(bare.transcript)")
            let typo = try await Descent.coordinator(["evalute", "--model", "m.safetensors"], in: scratch)
            #expect(typo.failedCleanly, "\(typo.transcript)")
            #expect(typo.stderr.contains("unknown command 'evalute'; did you mean 'evaluate'?"), "\(typo.transcript)")
        }

        /// A worker whose memory cgroup (a container's limit) cannot hold the network stops at its
        /// WELCOME, before allocating it, and says why to the coordinator. Needs a cgroup v1 memory
        /// controller this process may write (root in a container); skipped elsewhere.
        @Test(.enabled(if: memoryCgroupsCanBeMade, "no writable cgroup v1 memory controller"))
        func aWorkerThatCannotHoldTheNetworkSaysSoAtRegistration() async throws {
            let cgroup = try #require(Self.memoryCgroup(limit: 64 << 20))
            defer { try? FileManager.default.removeItem(atPath: cgroup) }
            let port = try FreePort.next()
            // 8-2000000-3: 24 million parameters, 96 MB a vector; the worker may use 64 MB.
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--workers", "1", "--bind", "tcp://127.0.0.1:\(port)", "--dataset", "csv:\(csv)",
                    "--layers", "8,2000000,3", "--steps", "1", "--register-timeout", "5", "--out", out,
                ], in: scratch)
            let worker = try await LaunchedProcess.run(
                "/bin/sh",
                [
                    "-c",
                    "echo $$ > '\(cgroup)/cgroup.procs' && exec '\(try Binaries.worker())' --connect tcp://127.0.0.1:\(port)",
                ], in: scratch, timeout: .seconds(30))
            let refused = try await coordinator.wait(timeout: .seconds(30))
            #expect(worker.failedCleanly, "\(worker.transcript)")
            #expect(worker.stderr.contains("cannot hold the network"), "\(worker.transcript)")
            #expect(refused.stderr.contains("cannot hold the network"), "\(refused.transcript)")
            #expect(refused.failedCleanly && !FileManager.default.fileExists(atPath: out))
        }

        static let memoryCgroupsCanBeMade: Bool = {
            guard let probe = memoryCgroup(limit: 1 << 30) else { return false }
            try? FileManager.default.removeItem(atPath: probe)
            return true
        }()

        /// A child memory cgroup of this process's own, limited to `limit` bytes; nil when none can be made.
        static func memoryCgroup(limit: Int) -> String? {
            guard let lines = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
                let line = lines.split(separator: "\n").first(where: { $0.contains(":memory:") }),
                let own = line.split(separator: ":", maxSplits: 2).last
            else { return nil }
            let base = "/sys/fs/cgroup/memory" + (own == "/" ? "" : own)
            let path = base + "/descent-test-\(UUID().uuidString.prefix(8))"
            guard (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)) != nil
            else { return nil }
            guard
                (try? "\(limit)".write(toFile: path + "/memory.limit_in_bytes", atomically: false, encoding: .utf8))
                    != nil
            else {
                try? FileManager.default.removeItem(atPath: path)
                return nil
            }
            return path
        }

        /// `--bind tcp://localhost:P` (a name) and `--connect 127.0.0.1:P` (no scheme) both work.
        @Test func endpointsAsPeopleWriteThem() async throws {
            let port = try FreePort.next()
            let coordinator = try Descent.launchCoordinator(
                [
                    "train", "--workers", "1", "--bind", "tcp://localhost:\(port)", "--dataset", "csv:\(csv)",
                    "--layers", "8,5,3", "--steps", "3", "--out", out,
                ], in: scratch)
            let worker = try Descent.launchWorker(["--connect", "127.0.0.1:\(port)"], in: scratch)
            let trained = try await coordinator.wait(timeout: .seconds(60))
            let left = try await worker.wait(timeout: .seconds(30))
            #expect(trained.succeeded, "\(trained.transcript)")
            #expect(left.succeeded, "\(left.transcript)")
        }
    }
}
