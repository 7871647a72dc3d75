// Gathering a shuffled mini-batch: whole examples (columns of a few KiB) picked at random from a
// shard far larger than the caches. The hardware prefetcher follows a column once it is being
// read, but cannot guess where the next one starts, so every column would begin with a wait on
// memory. Asking for the next column's cache lines while this one is copied overlaps that wait
// with the copy: about 0.45 → 0.3 ms for 512 examples of 784 floats here. Swift has no prefetch,
// hence this file.
#include "cgather.h"
#include <string.h>

enum { CACHE_LINE = 64 };

void descent_gather_columns(float *destination, const float *source, const int32_t *indices,
                            size_t count, size_t rows) {
    const size_t bytes = rows * sizeof(float);
    for (size_t column = 0; column < count; column++) {
        if (column + 1 < count) {
            const char *next = (const char *)(source + (size_t)indices[column + 1] * rows);
            for (size_t offset = 0; offset < bytes; offset += CACHE_LINE) {
                __builtin_prefetch(next + offset, 0 /* read */, 0 /* no temporal locality */);
            }
        }
        memcpy(destination + column * rows, source + (size_t)indices[column] * rows, bytes);
    }
}
