#ifndef CSHAREDMEMORY_H
#define CSHAREDMEMORY_H
#include <stdint.h>

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory; -1 and errno on failure.
int descent_memfd_create(const char *name);

/// A 64-bit cursor in memory shared with another process, read with acquire ordering.
uint64_t descent_load_acquire_u64(const uint64_t *cursor);

/// Stores a 64-bit cursor in shared memory with release ordering.
void descent_store_release_u64(uint64_t *cursor, uint64_t value);

#endif
