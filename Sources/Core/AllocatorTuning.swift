/// How this process's allocator treats large blocks.
public enum AllocatorTuning {
    /// Keeps blocks up to 32 MiB on the heap, where a freed block is reused, instead of mapping
    /// and unmapping them.
    ///
    /// glibc maps every block above 128 KiB afresh (raising that bound only to the size of the last
    /// freed mapping, so a same-size block is mapped again): each ~1 MB message buffer of a step
    /// then costs 256 page faults and zeroed pages, every step. Larger blocks — datasets, shards —
    /// are still mapped, and freed memory above 64 MiB is returned to the system.
    public static func keepMessageBuffersOnHeap() {
        #if os(Linux)
            // <malloc.h>'s M_MMAP_THRESHOLD and M_TRIM_THRESHOLD; the Glibc module does not export it.
            _ = glibcMallopt(-3, 32 << 20)
            _ = glibcMallopt(-1, 64 << 20)
        #endif
    }

    /// Gives the system back the heap's free pages (`malloc_trim`): for after a burst of large
    /// short-lived blocks (a shard's chunks as they arrived), which `keepMessageBuffersOnHeap`
    /// would otherwise keep resident for good.
    public static func returnFreeMemory() {
        #if os(Linux)
            _ = glibcMallocTrim(0)
        #endif
    }

    /// Makes every thread allocate from the one main heap. A worker's ZeroMQ I/O thread receives
    /// the shard's chunks into 1 MiB buffers; in an arena of its own they would stay resident
    /// after the shard is assembled, beside the main heap (about 1 MB of a worker's peak), instead
    /// of being reused by the main thread's step buffers. A worker's threads rarely allocate at
    /// once, so they do not contend for the lock.
    public static func shareOneHeap() {
        #if os(Linux)
            _ = glibcMallopt(-8, 1) // M_ARENA_MAX
        #endif
    }
}

#if os(Linux)
    /// glibc's `int malloc_trim(size_t pad)`.
    @_silgen_name("malloc_trim")
    private func glibcMallocTrim(_ pad: Int) -> Int32

    /// glibc's `int mallopt(int param, int value)`.
    @_silgen_name("mallopt")
    private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
