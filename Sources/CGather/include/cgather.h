#ifndef CGATHER_H
#define CGATHER_H
#include <stddef.h>
#include <stdint.h>

/// Copies columns `indices[0 ..< count]` of the column-major matrix `source` (`rows` floats per
/// column) to `destination`, one after another, in the order given. Every index must be a column
/// of `source`: the caller checks them.
void descent_gather_columns(float *destination, const float *source, const int32_t *indices,
                            size_t count, size_t rows);

#endif
