import ArgumentParser
import Foundation

/// `train --launcher`: which launcher started this process, read from the environment it sets.
enum LauncherKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case auto, torchrun, mpi, slurm, k8s, none
}

/// Where this process stands in a launched group: its rank, the group's size, and where rank 0
/// (the coordinator) listens. Rank 0 trains with `worldSize − 1` workers; every other rank
/// becomes a worker connecting to `host:port`. A rank is a place in this launch, not a worker's
/// identity: ranks may change across restarts, and the bits never depend on them.
struct LaunchPlacement: Equatable, Sendable {
    var launcher: LauncherKind
    var rank: Int
    var worldSize: Int
    /// Rank 0's host as the launcher names it (a name or an address).
    var host: String
    var port: Int
    /// Where the port came from, for the log: `MASTER_PORT + 1`, `--port`, …
    var portSource: String
}

/// A launcher's environment that does not say what Descent needs.
struct LauncherProblem: Error, CustomStringConvertible, Equatable {
    let description: String
}

/// Reads a launcher's conventions (docs/USAGE.md, "Launched by torchrun, mpirun, srun or Kubernetes").
///
/// - torchrun and Kubeflow's PyTorchJob: `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`.
///   torchrun's own agent holds `MASTER_PORT` (its rendezvous store), so under torchrun
///   (`TORCHELASTIC_RUN_ID` set) rank 0 listens on `MASTER_PORT + 1`; a PyTorchJob's port is free.
/// - MPI: `OMPI_COMM_WORLD_RANK`/`_SIZE` (Open MPI), `PMI_RANK`/`PMI_SIZE` (MPICH, Intel MPI),
///   `PMIX_RANK` with one of those sizes. No address: `MASTER_ADDR` or `--coordinator-host`, or
///   the loopback when every rank is on one node (`OMPI_COMM_WORLD_LOCAL_SIZE` = size).
/// - SLURM (`srun`): `SLURM_PROCID`, `SLURM_NTASKS`, and rank 0's node, the first of
///   `SLURM_STEP_NODELIST` (else `SLURM_JOB_NODELIST`); the loopback when that list is one node.
/// - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX`, and from the manifest `WORLD_SIZE` and
///   `MASTER_ADDR` (index 0's stable name under the job's headless service, `JOB-0.SERVICE`).
///
/// The port, where the launcher gives none: `--port`, else 5555.
enum Launcher {
    static let defaultPort = 5555

    /// `auto`: the first launcher whose variables are present, in the order MPI (mpirun inside a
    /// SLURM allocation sets SLURM's too), torchrun's agent, a Kubernetes Indexed Job (whose
    /// manifest sets WORLD_SIZE too), `RANK`/`WORLD_SIZE` (a PyTorchJob), SLURM; nil when none is.
    static func detect(_ env: [String: String]) -> LauncherKind? {
        let has = { (name: String) in env[name].map { !$0.isEmpty } ?? false }
        if ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"].contains(where: has) { return .mpi }
        if has("TORCHELASTIC_RUN_ID") { return .torchrun }
        if has("JOB_COMPLETION_INDEX") { return .k8s }
        if ["RANK", "WORLD_SIZE"].contains(where: has) { return .torchrun }
        if has("SLURM_PROCID") { return .slurm }
        return nil
    }

    /// This process's place under `kind` (`auto` detected first; `none` is not a launch).
    static func place(
        _ kind: LauncherKind, env: [String: String], port: Int? = nil, coordinatorHost: String? = nil
    ) throws -> LaunchPlacement {
        let reader = Reader(env: env, kind: kind)
        var placement: LaunchPlacement
        switch kind {
        case .auto:
            guard let found = detect(env) else {
                throw LauncherProblem(
                    description:
                        "--launcher auto: no launcher's environment found (looked for OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK, RANK/WORLD_SIZE, SLURM_PROCID, JOB_COMPLETION_INDEX)"
                )
            }
            return try place(found, env: env, port: port, coordinatorHost: coordinatorHost)
        case .none:
            throw LauncherProblem(description: "--launcher none: not launched")
        case .torchrun: placement = try torchrun(reader)
        case .mpi: placement = try mpi(reader, coordinatorHost: coordinatorHost)
        case .slurm: placement = try slurm(reader)
        case .k8s:
            placement = LaunchPlacement(
                launcher: .k8s, rank: try reader.int("JOB_COMPLETION_INDEX"), worldSize: try reader.int("WORLD_SIZE"),
                host: try reader.string("MASTER_ADDR"), port: defaultPort, portSource: "the default")
            if let masterPort = try reader.optionalInt("MASTER_PORT") {
                (placement.port, placement.portSource) = (masterPort, "MASTER_PORT")
            }
        }
        if let coordinatorHost, kind != .mpi { placement.host = coordinatorHost }
        if let port { (placement.port, placement.portSource) = (port, "--port") }
        guard placement.worldSize >= 1, (0..<placement.worldSize).contains(placement.rank) else {
            throw LauncherProblem(
                description:
                    "--launcher \(placement.launcher.rawValue): rank \(placement.rank) is not within a world of \(placement.worldSize)"
            )
        }
        guard (1...65535).contains(placement.port) else {
            throw LauncherProblem(
                description: "--launcher: port \(placement.port) (\(placement.portSource)) is not 1…65535")
        }
        return placement
    }

    private static func torchrun(_ reader: Reader) throws -> LaunchPlacement {
        let masterPort = try reader.int("MASTER_PORT")
        let underAgent = reader.env["TORCHELASTIC_RUN_ID"] != nil
        return LaunchPlacement(
            launcher: .torchrun, rank: try reader.int("RANK"), worldSize: try reader.int("WORLD_SIZE"),
            host: try reader.string("MASTER_ADDR"), port: underAgent ? masterPort + 1 : masterPort,
            portSource: underAgent ? "MASTER_PORT + 1 (torchrun holds MASTER_PORT)" : "MASTER_PORT")
    }

    private static func mpi(_ reader: Reader, coordinatorHost: String?) throws -> LaunchPlacement {
        let env = reader.env
        let rank: Int
        let size: Int
        if env["OMPI_COMM_WORLD_RANK"] != nil {
            rank = try reader.int("OMPI_COMM_WORLD_RANK")
            size = try reader.int("OMPI_COMM_WORLD_SIZE")
        } else if env["PMI_RANK"] != nil {
            rank = try reader.int("PMI_RANK")
            size = try reader.int("PMI_SIZE")
        } else {
            rank = try reader.int("PMIX_RANK")
            guard let named = try reader.optionalInt("OMPI_COMM_WORLD_SIZE") ?? reader.optionalInt("PMI_SIZE") else {
                throw LauncherProblem(
                    description: "--launcher mpi: PMIX_RANK is set but no world size (OMPI_COMM_WORLD_SIZE or PMI_SIZE)"
                )
            }
            size = named
        }
        let host: String
        if let coordinatorHost {
            host = coordinatorHost
        } else if let master = env["MASTER_ADDR"], !master.isEmpty {
            host = master
        } else if let local = try reader.optionalInt("OMPI_COMM_WORLD_LOCAL_SIZE"), local == size {
            host = "127.0.0.1"
        } else {
            throw LauncherProblem(
                description:
                    "--launcher mpi: MPI names no host for rank 0 and the ranks are not all on one node: give --coordinator-host HOST (rank 0's) or export MASTER_ADDR (mpirun -x MASTER_ADDR)"
            )
        }
        return LaunchPlacement(
            launcher: .mpi, rank: rank, worldSize: size, host: host,
            port: try reader.optionalInt("MASTER_PORT") ?? defaultPort,
            portSource: env["MASTER_PORT"] != nil ? "MASTER_PORT" : "the default")
    }

    private static func slurm(_ reader: Reader) throws -> LaunchPlacement {
        let rank = try reader.int("SLURM_PROCID")
        let size = try reader.optionalInt("SLURM_STEP_NUM_TASKS") ?? reader.int("SLURM_NTASKS")
        let listName = reader.env["SLURM_STEP_NODELIST"] != nil ? "SLURM_STEP_NODELIST" : "SLURM_JOB_NODELIST"
        let nodes = try SlurmNodeList.expand(try reader.string(listName))
        guard let first = nodes.first else {
            throw LauncherProblem(description: "--launcher slurm: \(listName) names no node")
        }
        return LaunchPlacement(
            launcher: .slurm, rank: rank, worldSize: size, host: Set(nodes).count == 1 ? "127.0.0.1" : first,
            port: defaultPort, portSource: "the default")
    }

    /// Named variables, with the launcher named in every complaint.
    struct Reader {
        let env: [String: String]
        let kind: LauncherKind

        func string(_ name: String) throws -> String {
            guard let value = env[name], !value.isEmpty else {
                throw LauncherProblem(
                    description:
                        "--launcher \(kind.rawValue): \(name) is not set (the launcher's environment is incomplete)")
            }
            return value
        }

        func int(_ name: String) throws -> Int {
            let text = try string(name)
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw LauncherProblem(
                    description: "--launcher \(kind.rawValue): \(name)='\(text)' is not a non-negative whole number")
            }
            return value
        }

        func optionalInt(_ name: String) throws -> Int? {
            guard let text = env[name], !text.isEmpty else { return nil }
            return try int(name)
        }
    }
}

/// SLURM's compressed host lists: `node[01-03,07],gpu5` is node01, node02, node03, node07, gpu5.
enum SlurmNodeList {
    static func expand(_ list: String) throws -> [String] {
        var hosts: [String] = []
        var current = ""
        var depth = 0
        for character in list {
            if character == "[" { depth += 1 }
            if character == "]" { depth -= 1 }
            if character == ",", depth == 0 {
                hosts += try expandOne(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { hosts += try expandOne(current) }
        return hosts
    }

    /// One name with at most one bracketed range list: `prefix[a-b,c]suffix`.
    private static func expandOne(_ name: String) throws -> [String] {
        guard let open = name.firstIndex(of: "[") else { return [name] }
        guard let close = name[open...].firstIndex(of: "]") else {
            throw LauncherProblem(description: "--launcher slurm: node list '\(name)' has an unclosed '['")
        }
        let prefix = String(name[..<open])
        let suffix = String(name[name.index(after: close)...])
        var hosts: [String] = []
        for part in name[name.index(after: open)..<close].split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds.last!), low <= high
            else {
                throw LauncherProblem(description: "--launcher slurm: node list '\(name)' has a bad range '\(part)'")
            }
            let width = bounds[0].count
            let tails = try expandOne(suffix)
            for number in low...min(high, low + 100_000) {
                let digits = String(number)
                let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
                hosts += tails.map { prefix + padded + $0 }
            }
        }
        return hosts
    }
}
