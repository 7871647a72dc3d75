#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Whole-file writes that a crash can never leave half done, and the matching whole-file read.
///
/// `write` puts the bytes in a temporary file beside the target, fsyncs it, renames it over the
/// target and fsyncs the directory (the rename is atomic on POSIX file systems; the directory
/// fsync makes it durable). A reader therefore sees the old file or the new one, never a mix.
public enum AtomicFile {
    /// A failed system call, with the path it was about and the `errno` it set.
    public enum IOError: Error, Equatable, CustomStringConvertible {
        case systemCall(path: String, call: String, errno: Int32)

        public var errno: Int32 {
            switch self {
            case .systemCall(_, _, let code): return code
            }
        }

        public var description: String {
            switch self {
            case .systemCall(let path, let call, let code):
                return "\(path): \(call) failed: \(String(cString: strerror(code)))"
            }
        }
    }

    /// Replaces the file at `path` with `data`, atomically and durably.
    ///
    /// `permissions` apply to a newly created file (before the umask). On any failure the
    /// temporary file is removed and the target is left as it was.
    public static func write(
        _ data: some DataProtocol, to path: String, permissions: mode_t = 0o644
    ) throws(IOError) {
        let directory = PathName.directory(of: path)
        let name = PathName.lastComponent(of: path)
        let temporary =
            (directory.isEmpty ? "" : directory + "/")
            + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw .systemCall(path: temporary, call: "open", errno: errno) }
        var failure: IOError?
        for region in data.regions where failure == nil {
            failure = region.withUnsafeBytes { writeAll(fd, $0, path: temporary) }
        }
        if failure == nil, fsync(fd) != 0 {
            failure = .systemCall(path: temporary, call: "fsync", errno: errno)
        }
        if let failure {
            close(fd)
            unlink(temporary)
            throw failure
        }
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporary)
            throw .systemCall(path: temporary, call: "close", errno: code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .systemCall(path: path, call: "rename", errno: code)
        }
        try syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// The whole content of the file at `path`.
    public static func read(_ path: String) throws(IOError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .systemCall(path: path, call: "open", errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .systemCall(path: path, call: "fstat", errno: errno) }
        guard (status.st_mode & S_IFMT) != S_IFDIR else { throw .systemCall(path: path, call: "read", errno: EISDIR) }

        let size = Int(status.st_size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = 0
            while initialized < size {
                let n = Glibc.read(fd, buffer.baseAddress! + initialized, size - initialized)
                if n > 0 {
                    initialized += n
                } else if n == 0 {
                    break
                } else if errno != EINTR {
                    failure = errno
                    break
                }
            }
        }
        guard failure == 0 else { throw .systemCall(path: path, call: "read", errno: failure) }
        return bytes
    }

    /// Writes the whole buffer, resuming after partial writes and signals; nil on success.
    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) -> IOError? {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n >= 0 {
                offset += n
            } else if errno != EINTR {
                return .systemCall(path: path, call: "write", errno: errno)
            }
        }
        return nil
    }

    /// Makes a rename inside `directory` durable. File systems that cannot fsync a directory
    /// (EINVAL) are accepted: the rename itself has already happened.
    private static func syncDirectory(_ directory: String) throws(IOError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .systemCall(path: directory, call: "open", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw .systemCall(path: directory, call: "fsync", errno: errno)
        }
    }
}
