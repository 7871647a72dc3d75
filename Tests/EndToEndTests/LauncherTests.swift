import Foundation
import Testing

extension EndToEnd {
    /// `train --launcher auto` under the launchers users run: torchrun and mpirun start three
    /// copies of the same command; rank 0 trains, ranks 1 and 2 become workers, and the weights
    /// are the bytes `--in-process` writes over the same shards.
    @Suite("launched by torchrun and mpirun")
    struct LauncherTests {
        let scratch: ScratchDirectory
        let csv: String
        /// The run every launch makes, with the reference's shard count.
        let training: [String]

        init() throws {
            scratch = try ScratchDirectory("launcher")
            csv = try LabelledData.synthetic().write(to: scratch.file("data.csv"))
            training = [
                "train", "--dataset", "csv:\(csv)", "--layers", "8,16,3", "--batch", "100", "--steps", "30",
                "--shards", "4", "--optimizer", "adam", "--lr", "0.01",
            ]
        }

        /// The same run computed in one process.
        func reference() async throws -> String {
            let out = scratch.file("in-process.safetensors")
            let outcome = try await Descent.coordinator(training + ["--in-process", "--out", out], in: scratch)
            try #require(outcome.succeeded, "\(outcome.transcript)")
            return out
        }

        /// `tool` from PATH, or a failure that says how to install it (a check that cannot run is
        /// not a check that passed).
        func require(_ tool: String) async throws {
            let probe = try await LaunchedProcess.run(
                "/usr/bin/env", ["sh", "-c", "command -v \(tool)"], in: scratch, timeout: .seconds(10))
            try #require(
                probe.succeeded, "no \(tool) on PATH: scripts/install-deps --test installs it\n\(probe.transcript)")
        }

        /// `torchrun`, else the module it runs (a `pip install --user` may leave torchrun off PATH).
        func torchrun() async throws -> [String] {
            let probe = try await LaunchedProcess.run(
                "/usr/bin/env", ["sh", "-c", "command -v torchrun"], in: scratch, timeout: .seconds(10))
            if probe.succeeded { return ["torchrun"] }
            let module = try await LaunchedProcess.run(
                "/usr/bin/env", ["python3", "-c", "import torch.distributed.run"], in: scratch, timeout: .seconds(60))
            try #require(
                module.succeeded, "no torchrun: scripts/install-deps --test installs torch\n\(module.transcript)")
            return ["python3", "-m", "torch.distributed.run"]
        }

        @Test func torchrunStartsTheCoordinatorAndTwoWorkers() async throws {
            let out = scratch.file("torchrun.safetensors")
            let outcome = try await LaunchedProcess.run(
                "/usr/bin/env",
                try await torchrun() + [
                    "--standalone", "--nproc-per-node", "3", "--no-python", try Binaries.coordinator(),
                ]
                    + training + ["--launcher", "auto", "--out", out],
                in: scratch, timeout: .seconds(180))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("launcher found torchrun: rank 0 of 3"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("rank 2 of 3"), "\(outcome.stderr)")
            let summary = try JSONLines.object(
                outcome.stdoutLines.last(where: { $0.hasPrefix("{") }) ?? "", source: "the summary")
            #expect(summary.int("workers") == 2, "\(summary)")
            #expect(try ModelComparison.sameBytes(out, try await reference()), "torchrun's weights differ")
        }

        @Test func mpirunStartsTheCoordinatorAndTwoWorkers() async throws {
            try await require("mpirun")
            let out = scratch.file("mpirun.safetensors")
            let port = try FreePort.next()
            let outcome = try await LaunchedProcess.run(
                "/usr/bin/env",
                ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "3", try Binaries.coordinator()]
                    + training + ["--launcher", "auto", "--port", String(port), "--out", out],
                in: scratch, timeout: .seconds(180))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(outcome.stderr.contains("launcher found mpi: rank 0 of 3"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("127.0.0.1:\(port), port from --port"), "\(outcome.stderr)")
            #expect(try ModelComparison.sameBytes(out, try await reference()), "mpirun's weights differ")
        }

        /// `--reducers 2` under mpirun: of 4 ranks, rank 1 reduces and ranks 2 and 3 compute.
        @Test func mpirunRankOneReducesWithReducers() async throws {
            try await require("mpirun")
            let out = scratch.file("mpirun-reducers.safetensors")
            let port = try FreePort.next()
            let outcome = try await LaunchedProcess.run(
                "/usr/bin/env",
                ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "4", try Binaries.coordinator()]
                    + training + ["--launcher", "auto", "--port", String(port), "--reducers", "2", "--out", out],
                in: scratch, timeout: .seconds(180))
            try #require(outcome.succeeded, "\(outcome.transcript)")
            #expect(
                outcome.stderr.contains("reducer 1 registered") && outcome.stderr.contains("127.0.0.1:\(port + 1)"),
                "rank 1 did not reduce at the port after the coordinator's\n\(outcome.stderr)")
            let summary = try JSONLines.object(
                outcome.stdoutLines.last(where: { $0.hasPrefix("{") }) ?? "", source: "the summary")
            #expect(summary.int("workers") == 2, "\(summary)")
            #expect(try ModelComparison.sameBytes(out, try await reference()), "mpirun's weights with a reducer differ")
        }

        /// A launcher's environment with a variable missing, and a launch that also names the
        /// workers: refused before any work, naming what is wrong.
        @Test func incompleteLaunchesAreRefused() async throws {
            let out = scratch.file("never.safetensors")
            let halfSet = try await Descent.coordinator(
                training + ["--launcher", "auto", "--out", out],
                environment: ["RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"], in: scratch)
            #expect(halfSet.failedCleanly, "\(halfSet.transcript)")
            #expect(halfSet.stderr.contains("WORLD_SIZE is not set"), "\(halfSet.transcript)")
            let both = try await Descent.coordinator(
                training + ["--launcher", "torchrun", "--local-workers", "2", "--out", out], in: scratch)
            #expect(both.failedCleanly, "\(both.transcript)")
            #expect(both.stderr.contains("--launcher decides who computes"), "\(both.transcript)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }
}
