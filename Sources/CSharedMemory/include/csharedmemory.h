#ifndef CSHAREDMEMORY_H
#define CSHAREDMEMORY_H
#include <stdint.h>

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory; -1 and errno on failure.
int descent_memfd_create(const char *name);

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING): a memory file that can be sealed.
int descent_memfd_create_sealable(const char *name);

/// Seals `fd` against any new writable mapping or write, and against resizing (F_SEAL_FUTURE_WRITE,
/// F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL); mappings made before stay writable. 0, or -1 and errno.
int descent_seal_against_writers(int fd);

/// Whether `fd` carries the seals `descent_seal_against_writers` adds.
int descent_is_sealed_against_writers(int fd);

/// A 64-bit cursor in memory shared with another process, read with acquire ordering.
uint64_t descent_load_acquire_u64(const uint64_t *cursor);

/// Stores a 64-bit cursor in shared memory with release ordering.
void descent_store_release_u64(uint64_t *cursor, uint64_t value);

/// A barrier of `parties` processes in shared memory: `word` points at two aligned 32-bit words
/// (how many have arrived, the generation), zero at first. Spins `spins` pauses, then sleeps on a
/// futex. 0 once every party has arrived; -1 after `timeout_ns` without them, -3 once `abandon`
/// (when not NULL) is non-zero, -2 on any other futex error. After -1 or -3 the caller's arrival
/// stays counted: the barrier is broken and must not be used again.
int descent_barrier_wait(
    uint32_t *word, uint32_t parties, uint32_t spins, int64_t timeout_ns, const uint32_t *abandon);

/// Adds `value` to a 64-bit word in shared memory, atomically; returns the sum.
uint64_t descent_add_u64(uint64_t *word, uint64_t value);

/// Sets `abandon` and wakes every party waiting at the barrier `word`, which returns -3.
void descent_barrier_abandon(uint32_t *word, uint32_t *abandon);

#endif
