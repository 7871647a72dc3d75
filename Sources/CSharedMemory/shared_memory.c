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

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int64_t descent_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

int descent_barrier_wait(
    uint32_t *word, uint32_t parties, uint32_t spins, int64_t timeout_ns, const uint32_t *abandon) {
    uint32_t *arrived = word;
    uint32_t *generation = word + 1;
    uint32_t gen = __atomic_load_n(generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(arrived, 1, __ATOMIC_ACQ_REL) == parties) {
        __atomic_store_n(arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(generation, gen + 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, generation, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        return 0;
    }
    for (uint32_t i = 0; i < spins; i++) {
        if (__atomic_load_n(generation, __ATOMIC_ACQUIRE) != gen) return 0;
        if (abandon && __atomic_load_n(abandon, __ATOMIC_ACQUIRE)) return -3;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    int64_t deadline = descent_now_ns() + timeout_ns;
    while (__atomic_load_n(generation, __ATOMIC_ACQUIRE) == gen) {
        if (abandon && __atomic_load_n(abandon, __ATOMIC_ACQUIRE)) return -3;
        int64_t left = deadline - descent_now_ns();
        if (left <= 0) return -1;
        struct timespec wait = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        if (syscall(SYS_futex, generation, FUTEX_WAIT, gen, &wait, NULL, 0) != 0 && errno != EAGAIN &&
            errno != EINTR && errno != ETIMEDOUT)
            return -2;
    }
    return 0;
}

void descent_barrier_abandon(uint32_t *word, uint32_t *abandon) {
    __atomic_store_n(abandon, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, word + 1, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

uint64_t descent_add_u64(uint64_t *word, uint64_t value) {
    return __atomic_add_fetch(word, value, __ATOMIC_ACQ_REL);
}
