// Gathering a shuffled mini-batch: whole examples (columns of a few KiB) picked at random from a
// shard far larger than the caches. The hardware prefetcher follows a column once it is being
// read, but cannot guess where the next one starts, so every column would begin with a wait on
// memory. Asking for the next column's cache lines while this one is copied overlaps that wait
// with the copy. Swift has no prefetch, hence this file.
#include "cgather.h"
#include <string.h>

enum { CACHE_LINE = 64 };

/// Asks for the cache lines of the `bytes` at `start`, to be read soon and once.
static inline void prefetch(const void *start, size_t bytes) {
    for (size_t offset = 0; offset < bytes; offset += CACHE_LINE) {
        __builtin_prefetch((const char *)start + offset, 0 /* read */, 0 /* no temporal locality */);
    }
}

void descent_gather_columns(float *destination, const float *source, const int32_t *indices,
                            size_t count, size_t rows) {
    const size_t bytes = rows * sizeof(float);
    for (size_t column = 0; column < count; column++) {
        if (column + 1 < count) prefetch(source + (size_t)indices[column + 1] * rows, bytes);
        memcpy(destination + column * rows, source + (size_t)indices[column] * rows, bytes);
    }
}

// Byte codes. Fashion-MNIST's features are pixels p / 255: a shard of them kept one byte per
// value is a quarter of the memory, and gathering a batch reads a quarter of the cache lines.
// Decoding divides as the loader did, so every value comes back with the same bits; a shard is
// kept this way only when encoding every value and decoding it again gives those bits.

static inline float decode(uint8_t code) { return (float)code / 255.0f; }

__attribute__((target("avx2")))
static void decode_avx2(float *destination, const uint8_t *codes, size_t count) {
    for (size_t i = 0; i < count; i++) destination[i] = decode(codes[i]);
}

static void decode_baseline(float *destination, const uint8_t *codes, size_t count) {
    for (size_t i = 0; i < count; i++) destination[i] = decode(codes[i]);
}

static int has_avx2;

__attribute__((constructor))
static void detect_avx2(void) {
    __builtin_cpu_init();
    has_avx2 = __builtin_cpu_supports("avx2");
}

void descent_decode_byte_codes(float *destination, const uint8_t *codes, size_t count) {
    if (has_avx2) decode_avx2(destination, codes, count);
    else decode_baseline(destination, codes, count);
}

void descent_gather_byte_columns(float *destination, const uint8_t *source, const int32_t *indices,
                                 size_t count, size_t rows) {
    for (size_t column = 0; column < count; column++) {
        if (column + 1 < count) prefetch(source + (size_t)indices[column + 1] * rows, rows);
        descent_decode_byte_codes(destination + column * rows, source + (size_t)indices[column] * rows, rows);
    }
}

int descent_encode_byte_codes(uint8_t *codes, const float *values, size_t count) {
    for (size_t i = 0; i < count; i++) {
        float scaled = values[i] * 255.0f;
        // Out of range or not a number: no code (NaN fails both comparisons).
        if (!(scaled >= -0.5f && scaled < 255.5f)) return 0;
        uint8_t code = (uint8_t)(scaled + 0.5f);
        float back = decode(code);
        if (memcmp(&back, &values[i], sizeof back) != 0) return 0;
        codes[i] = code;
    }
    return 1;
}
