import CSharedMemory

#if canImport(Glibc)
    import Glibc
#endif

/// Memory shared by a worker and its coordinator on one machine: two rings, one each way,
/// through which the large frames of a message travel instead of through the socket.
///
/// The worker (the DEALER) creates the region as an anonymous memory file and offers it; the
/// coordinator (the ROUTER) maps the same file through `/proc/<pid>/fd/<fd>` once it has checked
/// that the process at the other end of its Unix-domain socket is that pid. A frame written into
/// a ring is replaced, in the ZeroMQ message, by a 20-byte reference to it; the message still
/// travels through the socket, so frames keep their order whichever way they went.
///
/// A receiver copies a frame out of the ring before anything reads it, so the codec checks
/// (lengths, checksum) what the process will use, whatever the other side writes later. A
/// sender that finds no room writes the frame to the socket as usual: the ring only ever saves
/// copies and system calls, it never holds a message up.
///
/// Each ring is a byte ring with one producer and one consumer. The producer keeps its write
/// position to itself; the consumer publishes how far it has read (a cursor in the region's
/// header page). A frame never wraps: if it does not fit before the ring's end, it starts at the
/// beginning, and the gap counts as read once a later frame is.
final class SharedRegion {
    /// "DSCSHM01", at the start of the header page.
    static let magic: UInt64 = 0x3130_4D48_5343_5344
    static let headerBytes = 4096
    /// Frames start on cache lines.
    static let alignment = 64
    /// The largest ring a peer may offer (per direction).
    static let maxCapacity = 256 << 20
    /// What the memory file is called in /proc (`/memfd:descent-frames (deleted)`).
    static let fileName = "descent-frames"

    /// The memory file, mapped for as long as the region lives (the peer opens it through /proc).
    private let file: MemoryFile
    /// Bytes of each ring.
    let sizes: RingSizes
    /// Whether this side is the ROUTER: it writes the ring to the dealer and reads the other.
    private let isRouterSide: Bool
    /// This side's write position in its outgoing ring, in bytes since the ring began.
    private var head: UInt64

    var base: UnsafeMutableRawPointer { file.base }
    var fileDescriptor: Int32 { file.fileDescriptor }

    private init(file: MemoryFile, sizes: RingSizes, isRouterSide: Bool) {
        self.file = file
        self.sizes = sizes
        self.isRouterSide = isRouterSide
        head = 0
        head = descent_load_acquire_u64(cursor(of: outgoing))
    }

    /// The worker's side: a new region with rings of at least `requested` bytes (rounded up to pages).
    static func create(_ requested: RingSizes) throws(WireError) -> SharedRegion {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let sizes = requested.rounded(to: page)
        guard sizes.isValid else {
            throw .sharedMemory("rings of \(sizes) bytes are over the \(maxCapacity)-byte limit")
        }
        let file = try MemoryFile.create(named: fileName, bytes: headerBytes + sizes.total, sealed: false)
        file.base.storeBytes(of: magic, as: UInt64.self)
        file.base.storeBytes(of: UInt64(sizes.toCoordinator), toByteOffset: 8, as: UInt64.self)
        file.base.storeBytes(of: UInt64(sizes.toWorker), toByteOffset: 16, as: UInt64.self)
        return SharedRegion(file: file, sizes: sizes, isRouterSide: false)
    }

    /// The coordinator's side: maps the region that process `pid` offered as its descriptor `fd`.
    /// Refuses anything but a region made by `create` with rings of these `sizes`.
    static func open(pid: Int32, fd: Int32, sizes: RingSizes) throws(WireError) -> SharedRegion {
        guard pid > 0, fd >= 0, sizes.isValid else {
            throw .sharedMemory("an offer of pid \(pid), descriptor \(fd), rings of \(sizes) bytes is not a region")
        }
        let file = try MemoryFile.open(
            pid: pid, fd: fd, named: fileName, bytes: headerBytes + sizes.total, writable: true, sealed: false,
            what: "a Descent frame region")
        guard file.base.load(as: UInt64.self) == magic,
            file.base.load(fromByteOffset: 8, as: UInt64.self) == UInt64(sizes.toCoordinator),
            file.base.load(fromByteOffset: 16, as: UInt64.self) == UInt64(sizes.toWorker)
        else {
            throw .sharedMemory("/proc/\(pid)/fd/\(fd) does not start with a Descent frame region's header")
        }
        return SharedRegion(file: file, sizes: sizes, isRouterSide: true)
    }

    // MARK: Rings

    /// 0: worker → coordinator, 1: coordinator → worker.
    private var outgoing: Int { isRouterSide ? 1 : 0 }
    private var incoming: Int { isRouterSide ? 0 : 1 }

    /// How far the consumer of `ring` has read, on a cache line of its own.
    private func cursor(of ring: Int) -> UnsafeMutablePointer<UInt64> {
        (base + 64 * (ring + 1)).assumingMemoryBound(to: UInt64.self)
    }

    private func data(of ring: Int) -> UnsafeMutableRawPointer {
        base + Self.headerBytes + (ring == 0 ? 0 : sizes.toCoordinator)
    }

    private func capacity(of ring: Int) -> Int { ring == 0 ? sizes.toCoordinator : sizes.toWorker }

    /// Bytes of the ring this side reads, and of the one it writes.
    var incomingCapacity: Int { capacity(of: incoming) }
    var outgoingCapacity: Int { capacity(of: outgoing) }

    private static func aligned(_ count: Int) -> UInt64 {
        UInt64((count + alignment - 1) / alignment * alignment)
    }

    /// Copies `frame` into the outgoing ring; nil, and nothing written, when it has no room (or
    /// this way has no ring).
    func write(_ frame: [UInt8]) -> RingReference? {
        write(count: frame.count) { destination in
            frame.withUnsafeBytes { bytes in
                if let source = bytes.baseAddress { destination.copyMemory(from: source, byteCount: bytes.count) }
            }
        }
    }

    /// A frame of `count` bytes that `body` writes straight into the outgoing ring (no frame of
    /// its own to copy from); nil, and `body` not called, when the ring has no room.
    func write(count: Int, by body: (UnsafeMutableRawPointer) -> Void) -> RingReference? {
        let need = Self.aligned(count)
        let ring = UInt64(capacity(of: outgoing))
        guard ring > 0, need <= ring else { return nil }
        let read = descent_load_acquire_u64(cursor(of: outgoing))
        // The reader's cursor is believed only where a reader could have put it.
        guard read <= head, head - read <= ring else { return nil }
        var position = head
        let offset = position % ring
        if offset + need > ring { position += ring - offset }
        // Unread bytes lie in [read, head); a frame that wraps to the ring's start must end, one
        // ring back, before them. An empty ring has none: the gap skipped at its end is no
        // reader's, or a frame longer than half the ring, after one that left the head mid-ring,
        // would never fit again.
        guard read == head || position + need - read <= ring else { return nil }
        body(data(of: outgoing).advanced(by: Int(position % ring)))
        head = position + need
        return RingReference(position: position, length: UInt64(count))
    }

    /// A copy of the frame `reference` names in the incoming ring, marking it read; nil when the
    /// reference points outside the ring (or this way has none). The copy is what the codec then
    /// checks, whatever the peer writes into the ring meanwhile.
    func read(_ reference: RingReference) -> [UInt8]? {
        guard let frame = view(reference) else { return nil }
        defer { release(reference) }
        return [UInt8](frame)
    }

    /// The frame `reference` names in the incoming ring, where it lies, not yet marked read (the
    /// writer does not write over it until `release`); nil when the reference points outside the
    /// ring (or this way has none).
    func view(_ reference: RingReference) -> UnsafeRawBufferPointer? {
        let ring = UInt64(capacity(of: incoming))
        guard ring > 0 else { return nil }
        let offset = reference.position % ring
        guard reference.length <= ring - offset else { return nil }
        return UnsafeRawBufferPointer(start: data(of: incoming) + Int(offset), count: Int(reference.length))
    }

    /// Marks the frame `reference` names, and every frame before it, read.
    func release(_ reference: RingReference) {
        descent_store_release_u64(cursor(of: incoming), reference.position &+ Self.aligned(Int(reference.length)))
    }

    // MARK: Messages

    /// Moves the frames of `frames` that are `SharedMemoryTransport.frameBytes` or longer into the
    /// outgoing ring where it has room, leaving references in their place.
    func place(_ frames: inout [[UInt8]], counting counters: inout SharedMemoryCounters) {
        guard outgoingCapacity > 0 else { return }
        for index in frames.indices where frames[index].count >= SharedMemoryTransport.frameBytes {
            guard let reference = write(frames[index]) else {
                counters.framesSentWithoutRoom += 1
                continue
            }
            frames[index] = reference.bytes
            counters.framesSent += 1
        }
    }

    /// Puts the frames that references name back in their place, copied out of the ring; returns
    /// their indices.
    ///
    /// A reference that cannot be followed — outside the ring, longer than `maxFrameBytes` — stays
    /// as it is, and the codec refuses it. One message's frames were all in the ring at once, so
    /// together they are at most a ring long: references that add up to more (the same frame
    /// named again and again) are not followed either.
    func follow(
        _ frames: inout [[UInt8]], maxFrameBytes: UInt64, counting counters: inout SharedMemoryCounters
    ) -> Set<Int> {
        var budget = UInt64(incomingCapacity)
        var followed: Set<Int> = []
        for index in frames.indices {
            guard let reference = RingReference(frames[index]), reference.length <= min(maxFrameBytes, budget),
                let frame = read(reference)
            else { continue }
            budget -= reference.length
            frames[index] = frame
            followed.insert(index)
            counters.framesReceived += 1
            counters.bytesReceived += frame.count
        }
        return followed
    }
}
