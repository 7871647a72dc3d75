#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Key files as `coordinator keygen` writes them: `NAME.key` holds the Z85 secret key (mode
/// 0600), `NAME.pub` the Z85 public key, each on one line.
public enum CurveKeyFile {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case notAKey(path: String)
        case tooOpen(path: String, mode: mode_t)
        case noKeys(directory: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): return "\(path): cannot read the key file: \(reason)"
            case .notAKey(let path): return "\(path): not a Z85 CURVE key (expected 40 characters on one line)"
            case .tooOpen(let path, let mode):
                return
                    "\(path): permissions \(String(mode & 0o777, radix: 8)) are too open; a secret key must be readable by its owner only (chmod 600 \(path))"
            case .noKeys(let directory): return "\(directory): no authorized public keys (*.pub) found"
            }
        }
    }

    /// The secret key in `path`, refusing a file that others may read, as ssh does.
    public static func readSecretKey(_ path: String) throws(Problem) -> (secretKey: String, publicKey: String) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .unreadable(path: path, reason: String(validatingCString: strerror(errno)) ?? "error \(errno)")
        }
        guard status.st_mode & 0o077 == 0 else { throw .tooOpen(path: path, mode: status.st_mode) }
        let secret = try readKey(path)
        guard let publicKey = CurveKeys.publicKey(forSecret: secret) else { throw .notAKey(path: path) }
        return (secret, publicKey)
    }

    /// The public key in `path`.
    public static func readPublicKey(_ path: String) throws(Problem) -> String {
        let key = try readKey(path)
        guard key.utf8.count == 40, ZeroMQAuthenticator.decodesAsKey(key) else { throw .notAKey(path: path) }
        return key
    }

    /// Every `*.pub` key in `directory`.
    public static func readAuthorizedKeys(_ directory: String) throws(Problem) -> Set<String> {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .unreadable(path: directory, reason: "not a readable directory")
        }
        var keys = Set<String>()
        for name in names.sorted() where name.hasSuffix(".pub") {
            keys.insert(try readPublicKey(directory.hasSuffix("/") ? directory + name : directory + "/" + name))
        }
        guard !keys.isEmpty else { throw .noKeys(directory: directory) }
        return keys
    }

    private static func readKey(_ path: String) throws(Problem) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "no such file, or not readable")
        }
        var text = Substring(String(decoding: data, as: UTF8.self))
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        guard text.utf8.count == 40 else { throw .notAKey(path: path) }
        return String(text)
    }
}
