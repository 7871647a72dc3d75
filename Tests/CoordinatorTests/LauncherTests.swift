import Testing

@testable import Coordinator

/// `--launcher`: each launcher's environment read into a rank, a world size and rank 0's
/// endpoint, and every incomplete environment refused naming what is missing.
@Suite struct LauncherTests {
    static let torchrun = [
        "RANK": "2", "WORLD_SIZE": "3", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500",
        "TORCHELASTIC_RUN_ID": "none", "LOCAL_RANK": "2",
    ]

    @Test func torchrunListensBesideTheAgentsPort() throws {
        let placement = try Launcher.place(.auto, env: Self.torchrun)
        #expect(
            placement
                == LaunchPlacement(
                    launcher: .torchrun, rank: 2, worldSize: 3, host: "localhost", port: 29501,
                    portSource: "MASTER_PORT + 1 (torchrun holds MASTER_PORT)"))
    }

    @Test func aPyTorchJobUsesItsMasterPort() throws {
        var env = Self.torchrun
        env["TORCHELASTIC_RUN_ID"] = nil
        env["MASTER_ADDR"] = "job-master-0"
        let placement = try Launcher.place(.torchrun, env: env)
        #expect(placement.port == 29500 && placement.host == "job-master-0")
        #expect(try Launcher.place(.torchrun, env: env, port: 7000).port == 7000)
    }

    @Test(arguments: ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"])
    func aHalfSetTorchrunEnvironmentNamesTheMissingVariable(missing: String) {
        var env = Self.torchrun
        env[missing] = nil
        #expect {
            try Launcher.place(.torchrun, env: env)
        } throws: { error in
            "\(error)".contains("\(missing) is not set")
        }
    }

    @Test func openMPIOnOneNodeUsesTheLoopback() throws {
        let env = [
            "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_LOCAL_SIZE": "3",
            "SLURM_PROCID": "0",
        ]
        #expect(Launcher.detect(env) == .mpi)
        let placement = try Launcher.place(.auto, env: env, port: 6000)
        #expect(placement.rank == 1 && placement.worldSize == 3 && placement.host == "127.0.0.1")
        #expect(placement.port == 6000 && placement.portSource == "--port")
    }

    @Test func mpiAcrossNodesNeedsAHost() throws {
        let env = ["PMI_RANK": "0", "PMI_SIZE": "4"]
        #expect {
            try Launcher.place(.mpi, env: env)
        } throws: { error in
            "\(error)".contains("--coordinator-host")
        }
        #expect(try Launcher.place(.mpi, env: env, coordinatorHost: "head").host == "head")
        #expect(try Launcher.place(.mpi, env: env.merging(["MASTER_ADDR": "n1"]) { $1 }).host == "n1")
        #expect {
            try Launcher.place(.mpi, env: ["PMIX_RANK": "1"], coordinatorHost: "head")
        } throws: { error in
            "\(error)".contains("no world size")
        }
        #expect {
            try Launcher.place(.mpi, env: ["OMPI_COMM_WORLD_RANK": "1"], coordinatorHost: "head")
        } throws: { error in
            "\(error)".contains("OMPI_COMM_WORLD_SIZE is not set")
        }
    }

    @Test func slurmTakesTheFirstNodeOfTheStep() throws {
        let env = [
            "SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_STEP_NUM_TASKS": "4",
            "SLURM_STEP_NODELIST": "gpu[07-09],cpu1", "SLURM_JOB_NODELIST": "other1",
        ]
        let placement = try Launcher.place(.auto, env: env)
        #expect(placement.launcher == .slurm && placement.rank == 3 && placement.worldSize == 4)
        #expect(placement.host == "gpu07" && placement.port == 5555)
        let single = try Launcher.place(
            .slurm, env: ["SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "n5"])
        #expect(single.host == "127.0.0.1", "one node: the loopback")
        #expect {
            try Launcher.place(.slurm, env: ["SLURM_PROCID": "0", "SLURM_NTASKS": "2"])
        } throws: { error in
            "\(error)".contains("SLURM_JOB_NODELIST is not set")
        }
    }

    @Test func slurmNodeListsExpand() throws {
        #expect(try SlurmNodeList.expand("node[01-03,07],gpu5") == ["node01", "node02", "node03", "node07", "gpu5"])
        #expect(try SlurmNodeList.expand("a-[9-11]") == ["a-9", "a-10", "a-11"])
        #expect(try SlurmNodeList.expand("r[1-2]n[1-2]") == ["r1n1", "r1n2", "r2n1", "r2n2"])
        #expect(try SlurmNodeList.expand("solo") == ["solo"])
        #expect(throws: LauncherProblem.self) { try SlurmNodeList.expand("bad[1-") }
        #expect(throws: LauncherProblem.self) { try SlurmNodeList.expand("bad[3-1]") }
    }

    @Test func kubernetesIndexedJob() throws {
        let env = ["JOB_COMPLETION_INDEX": "0", "WORLD_SIZE": "5", "MASTER_ADDR": "descent-0.descent"]
        let placement = try Launcher.place(.auto, env: env)
        #expect(placement.launcher == .k8s && placement.rank == 0 && placement.worldSize == 5)
        #expect(placement.host == "descent-0.descent" && placement.port == 5555)
        #expect {
            try Launcher.place(.k8s, env: ["JOB_COMPLETION_INDEX": "1", "MASTER_ADDR": "x"])
        } throws: { error in
            "\(error)".contains("WORLD_SIZE is not set")
        }
    }

    @Test func nonsenseIsRefused() {
        #expect(Launcher.detect([:]) == nil)
        #expect {
            try Launcher.place(.auto, env: ["HOME": "/root"])
        } throws: { error in
            "\(error)".contains("no launcher's environment")
        }
        var env = Self.torchrun
        env["RANK"] = "3"
        #expect {
            try Launcher.place(.torchrun, env: env)
        } throws: { error in
            "\(error)".contains("rank 3 is not within a world of 3")
        }
        env["RANK"] = "one"
        #expect {
            try Launcher.place(.torchrun, env: env)
        } throws: { error in
            "\(error)".contains("RANK='one'")
        }
        #expect(throws: LauncherProblem.self) { try Launcher.place(.torchrun, env: Self.torchrun, port: 70000) }
    }

    @Test func hostNamesResolve() throws {
        #expect(try HostName.resolve("localhost", for: "--bind") == "127.0.0.1")
        #expect(try HostName.resolve("10.1.2.3", for: "--bind") == "10.1.2.3")
        #expect(try HostName.resolvingEndpoint("tcp://localhost:5555", for: "--bind") == "tcp://127.0.0.1:5555")
        #expect(try HostName.resolvingEndpoint("tcp://*:5555", for: "--bind") == "tcp://*:5555")
        #expect(try HostName.resolvingEndpoint("ipc:///tmp/x", for: "--bind") == "ipc:///tmp/x")
        #expect {
            try HostName.resolve("no-such-host.invalid", for: "--bind")
        } throws: { error in
            "\(error)".contains("cannot resolve the host name 'no-such-host.invalid'")
        }
    }
}
