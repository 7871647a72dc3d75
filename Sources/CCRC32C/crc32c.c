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

__attribute__((target("sse4.2")))
uint32_t descent_crc32c_hardware_update(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = data;
    if (length >= 3 * BLOCK) {
        pthread_once(&shift_table_once, make_shift_table);
        do {
            uint64_t a = crc, b = 0, c = 0;
            for (size_t i = 0; i < BLOCK; i += 8) {
                uint64_t wa, wb, wc;
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + BLOCK + i, 8);
                memcpy(&wc, p + 2 * BLOCK + i, 8);
                a = _mm_crc32_u64(a, wa);
                b = _mm_crc32_u64(b, wb);
                c = _mm_crc32_u64(c, wc);
            }
            crc = shift_block(shift_block((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
            p += 3 * BLOCK;
            length -= 3 * BLOCK;
        } while (length >= 3 * BLOCK);
    }
    uint64_t crc64 = crc;
    for (; length >= 8; p += 8, length -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc64 = _mm_crc32_u64(crc64, word);
    }
    crc = (uint32_t)crc64;
    for (; length > 0; p += 1, length -= 1) crc = _mm_crc32_u8(crc, *p);
    return crc;
}
#else
int descent_crc32c_hardware_available(void) { return 0; }
uint32_t descent_crc32c_hardware_update(uint32_t state, const void *data, size_t length) {
    (void)data; (void)length;
    return state;
}
#endif
