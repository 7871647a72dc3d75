#define _GNU_SOURCE
#include "csharedmemory.h"
#include <sys/mman.h>

int descent_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

uint64_t descent_load_acquire_u64(const uint64_t *cursor) {
    return __atomic_load_n(cursor, __ATOMIC_ACQUIRE);
}

void descent_store_release_u64(uint64_t *cursor, uint64_t value) {
    __atomic_store_n(cursor, value, __ATOMIC_RELEASE);
}
