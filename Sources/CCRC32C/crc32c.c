// CRC-32C with the SSE4.2 crc32 instruction, which computes exactly the Castagnoli polynomial.
// Swift cannot reach the instruction directly; this file is the whole of the C it needs.
#include "ccrc32c.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int descent_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
uint32_t descent_crc32c_hardware_update(uint32_t state, const void *data, size_t length) {
    const unsigned char *p = data;
    uint64_t crc = state;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = _mm_crc32_u64(crc, word);
        p += 8;
        length -= 8;
    }
    uint32_t crc32 = (uint32_t)crc;
    while (length > 0) {
        crc32 = _mm_crc32_u8(crc32, *p);
        p += 1;
        length -= 1;
    }
    return crc32;
}
#else
int descent_crc32c_hardware_available(void) { return 0; }
uint32_t descent_crc32c_hardware_update(uint32_t state, const void *data, size_t length) {
    (void)data; (void)length;
    return state;
}
#endif
