#define _GNU_SOURCE
#include "csharedmemory.h"
#include <sys/mman.h>
#include <sys/socket.h>

int descent_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int descent_socket_peer_pid(int fd) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    return credentials.pid;
}

uint64_t descent_load_acquire_u64(const uint64_t *cursor) {
    return __atomic_load_n(cursor, __ATOMIC_ACQUIRE);
}

void descent_store_release_u64(uint64_t *cursor, uint64_t value) {
    __atomic_store_n(cursor, value, __ATOMIC_RELEASE);
}
