import Foundation

/// Where the built `coordinator` and `worker` live: `$DESCENT_BIN`, or `.build/release` under the
/// package root (which `scripts/test` fills before it runs the tests).
enum Binaries {
    /// The package root, three directories above this file (Tests/EndToEndTests/Harness).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var directory: String {
        if let bin = ProcessInfo.processInfo.environment["DESCENT_BIN"], !bin.isEmpty { return bin }
        return packageRoot.appendingPathComponent(".build/release").path
    }

    static func coordinator() throws -> String { try executable("coordinator") }

    static func worker() throws -> String { try executable("worker") }

    /// The path of a built executable; a missing one fails the test with how to build it, since
    /// skipping would let a broken build pass as green.
    private static func executable(_ name: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError.missingBinary(path: path)
        }
        return path
    }
}
