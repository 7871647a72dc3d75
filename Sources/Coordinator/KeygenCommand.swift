import ArgumentParser
import Core
import Foundation
import Wire

/// `coordinator keygen`: a CURVE key pair for the coordinator or a worker.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub, both Z85.",
        discussion: """
            The coordinator trains with --curve-secret-key coordinator.key --authorized-keys DIR, \
            where DIR holds the workers' .pub files; each worker runs with --curve-secret-key \
            NAME.key --server-public-key coordinator.pub.
            """
    )

    @Option(help: "Directory for the key files (created if missing).")
    var out: String

    @Option(help: "Base name of the key files.")
    var name: String

    @Flag(help: "Replace existing key files of that name.")
    var force = false

    func validate() throws {
        guard !name.isEmpty, !name.contains("/") else {
            throw ValidationError("--name must be a plain file name, got '\(name)'")
        }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let secretPath = (out as NSString).appendingPathComponent("\(name).key")
        let publicPath = (out as NSString).appendingPathComponent("\(name).pub")
        if !force {
            for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
                throw ConfigurationError.invalid(field: "--name", reason: "\(path) exists; pass --force to replace it")
            }
        }
        let keys = try CurveKeys.generate()
        try AtomicFile.write(Data((keys.secretKey + "\n").utf8), to: secretPath, permissions: 0o600)
        try AtomicFile.write(Data((keys.publicKey + "\n").utf8), to: publicPath, permissions: 0o644)
        print("wrote \(secretPath) (secret) and \(publicPath) (public key \(keys.publicKey))")
    }
}
