// CRC-32C with the SSE4.2 crc32 instruction, which computes exactly the Castagnoli polynomial.
// Swift cannot reach the instruction directly; this file is the whole of the C it needs.
//
// One crc32 instruction has a latency of 3 cycles but the CPU can start one every cycle, so a
// long buffer is cut into rounds of three blocks checksummed side by side, and the three
// results are joined. CRC is linear over GF(2): for the raw register,
//     crc(s, A‖B) = shift(crc(s, A), |B|) ⊕ crc(0, B),
// where shift(x, n) is the register after n zero bytes from x — itself linear in x, so it is
// four lookups in tables made once per process for n = BLOCK (Intel, "Fast CRC Computation for
// iSCSI Polynomial Using CRC32 Instruction", 2011, takes the same approach).
#include "ccrc32c.h"
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

enum { BLOCK = 8192 };  // bytes per stream per round: long enough that joining costs nothing

int descent_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

/// shift_table[k][b]: the register after BLOCK zero bytes from the register b << 8k.
static uint32_t shift_table[4][256];
static pthread_once_t shift_table_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2")))
static void make_shift_table(void) {
    for (int k = 0; k < 4; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            uint64_t crc = (uint64_t)(b << (8 * k));
            for (int i = 0; i < BLOCK / 8; i++) crc = _mm_crc32_u64(crc, 0);
            shift_table[k][b] = (uint32_t)crc;
        }
    }
}

static inline uint32_t shift_block(uint32_t x) {
    return shift_table[0][x & 0xff] ^ shift_table[1][(x >> 8) & 0xff]
        ^ shift_table[2][(x >> 16) & 0xff] ^ shift_table[3][x >> 24];
}

// The source of a copy may be memory another process writes (a ring shared with a peer): each
// value is taken into a register once, and the compiler may not read it again from memory for
// the store, so the bytes stored are the bytes checksummed whatever the peer does meanwhile.
#define ONE_READ(value) __asm__ volatile("" : "+r"(value))

// The checksum of `length` bytes at `p`, continuing the raw register `crc`; with a destination
// `d`, each word is also stored there as it is checksummed. Inlined into the two entry points
// below, so each is compiled with `d` known: the checksum alone has no stores and no test.
__attribute__((target("sse4.2"), always_inline))
static inline uint32_t crc_run(uint32_t crc, unsigned char *d, const unsigned char *p, size_t length) {
    if (length >= 3 * BLOCK) {
        pthread_once(&shift_table_once, make_shift_table);
        do {
            uint64_t a = crc, b = 0, c = 0;
            for (size_t i = 0; i < BLOCK; i += 8) {
                uint64_t wa, wb, wc;
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + BLOCK + i, 8);
                memcpy(&wc, p + 2 * BLOCK + i, 8);
                if (d) {
                    // What is checksummed is what was loaded, and what was loaded is what is stored.
                    ONE_READ(wa);
                    ONE_READ(wb);
                    ONE_READ(wc);
                    memcpy(d + i, &wa, 8);
                    memcpy(d + BLOCK + i, &wb, 8);
                    memcpy(d + 2 * BLOCK + i, &wc, 8);
                }
                a = _mm_crc32_u64(a, wa);
                b = _mm_crc32_u64(b, wb);
                c = _mm_crc32_u64(c, wc);
            }
            crc = shift_block(shift_block((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
            p += 3 * BLOCK;
            if (d) d += 3 * BLOCK;
            length -= 3 * BLOCK;
        } while (length >= 3 * BLOCK);
    }
    uint64_t crc64 = crc;
    for (; length >= 8; p += 8, length -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        if (d) {
            ONE_READ(word);
            memcpy(d, &word, 8);
            d += 8;
        }
        crc64 = _mm_crc32_u64(crc64, word);
    }
    crc = (uint32_t)crc64;
    for (; length > 0; p += 1, length -= 1) {
        unsigned char byte = *p;
        if (d) {
            ONE_READ(byte);
            *d++ = byte;
        }
        crc = _mm_crc32_u8(crc, byte);
    }
    return crc;
}

__attribute__((target("sse4.2")))
uint32_t descent_crc32c_hardware_update(uint32_t state, const void *data, size_t length) {
    return crc_run(state, NULL, data, length);
}

__attribute__((target("sse4.2")))
uint32_t descent_crc32c_hardware_copy(uint32_t state, void *destination, const void *source, size_t length) {
    return crc_run(state, destination, source, length);
}
#else
int descent_crc32c_hardware_available(void) { return 0; }
uint32_t descent_crc32c_hardware_update(uint32_t state, const void *data, size_t length) {
    (void)data; (void)length;
    return state;
}
uint32_t descent_crc32c_hardware_copy(uint32_t state, void *destination, const void *source, size_t length) {
    (void)destination; (void)source; (void)length;
    return state;
}
#endif
