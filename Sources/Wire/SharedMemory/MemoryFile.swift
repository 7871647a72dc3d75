import CSharedMemory

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// An anonymous memory file one process makes and maps, and another on the same machine maps
/// through `/proc/<pid>/fd/<fd>`: what a worker's `SharedRegion` and a coordinator's
/// `ParameterBoard` are made of. The mapping and the descriptor last as long as this value.
final class MemoryFile {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    let fileDescriptor: Int32

    private init(base: UnsafeMutableRawPointer, byteCount: Int, fileDescriptor: Int32) {
        self.base = base
        self.byteCount = byteCount
        self.fileDescriptor = fileDescriptor
    }

    deinit {
        munmap(base, byteCount)
        close(fileDescriptor)
    }

    /// A new file called `name` (`/memfd:<name>` in /proc), `bytes` long, mapped to read and write.
    /// `sealed`: once mapped here, sealed against any other writer and against resizing.
    static func create(named name: String, bytes: Int, sealed: Bool) throws(WireError) -> MemoryFile {
        let fd = sealed ? descent_memfd_create_sealable(name) : descent_memfd_create(name)
        guard fd >= 0 else { throw .sharedMemory("memfd_create: \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .sharedMemory("ftruncate to \(bytes) bytes: \(reason)")
        }
        let file = try map(fd, bytes: bytes, writable: true, naming: "memfd")
        guard !sealed || descent_seal_against_writers(fd) == 0 else {
            throw .sharedMemory("sealing \(name): \(String(cString: strerror(errno)))")
        }
        return file
    }

    /// Maps the file process `pid` holds as its descriptor `fd`, if it is a memory file called
    /// `name`, `bytes` long (and sealed against writers, with `sealed`); `writable` or read-only.
    /// `what` names it in errors ("a Descent frame region").
    static func open(
        pid: Int32, fd: Int32, named name: String, bytes: Int, writable: Bool, sealed: Bool, what: String
    ) throws(WireError) -> MemoryFile {
        let path = "/proc/\(pid)/fd/\(fd)"
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
        guard target.hasPrefix("/memfd:\(name)") else { throw .sharedMemory("\(path) is not \(what) ('\(target)')") }
        let descriptor = Glibc.open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard descriptor >= 0 else { throw .sharedMemory("open \(path): \(String(cString: strerror(errno)))") }
        var status = stat()
        guard fstat(descriptor, &status) == 0, Int(status.st_size) == bytes else {
            close(descriptor)
            throw .sharedMemory("\(path) is not \(bytes) bytes long")
        }
        guard !sealed || descent_is_sealed_against_writers(descriptor) != 0 else {
            close(descriptor)
            throw .sharedMemory("\(path) is not sealed against writers")
        }
        return try map(descriptor, bytes: bytes, writable: writable, naming: path)
    }

    /// Maps `bytes` of the file `fd`, shared; closes it if that fails.
    private static func map(
        _ fd: Int32, bytes: Int, writable: Bool, naming name: String
    ) throws(WireError) -> MemoryFile {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let base = mmap(nil, bytes, protection, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .sharedMemory("mmap of \(bytes) bytes of \(name): \(reason)")
        }
        return MemoryFile(base: base, byteCount: bytes, fileDescriptor: fd)
    }
}
