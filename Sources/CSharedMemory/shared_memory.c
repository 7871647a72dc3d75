#define _GNU_SOURCE
#include "csharedmemory.h"
#include <fcntl.h>
#include <sys/mman.h>

int descent_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int descent_memfd_create_sealable(const char *name) {
    return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
static const int descent_writer_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;

int descent_seal_against_writers(int fd) {
    return fcntl(fd, F_ADD_SEALS, descent_writer_seals);
}

int descent_is_sealed_against_writers(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & descent_writer_seals) == descent_writer_seals;
}

uint64_t descent_load_acquire_u64(const uint64_t *cursor) {
    return __atomic_load_n(cursor, __ATOMIC_ACQUIRE);
}

void descent_store_release_u64(uint64_t *cursor, uint64_t value) {
    __atomic_store_n(cursor, value, __ATOMIC_RELEASE);
}
