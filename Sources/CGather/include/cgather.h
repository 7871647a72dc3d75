#ifndef CGATHER_H
#define CGATHER_H
#include <stddef.h>
#include <stdint.h>

/// Copies columns `indices[0 ..< count]` of the column-major matrix `source` (`rows` floats per
/// column) to `destination`, one after another, in the order given. Every index must be a column
/// of `source`: the caller checks them.
void descent_gather_columns(float *destination, const float *source, const int32_t *indices,
                            size_t count, size_t rows);

/// Byte codes: the value code / 255.0f, the quotient Descent's IDX loader reads a pixel as.
/// Writes the `count` values of `codes` to `destination`.
void descent_decode_byte_codes(float *destination, const uint8_t *codes, size_t count);

/// `descent_gather_columns` for a matrix of byte codes (`rows` bytes per column), decoding them.
void descent_gather_byte_columns(float *destination, const uint8_t *source, const int32_t *indices,
                                 size_t count, size_t rows);

/// Writes the byte code of each of the `count` values to `codes` and returns 1 when every value is
/// exactly what its code decodes to (the same bits); 0 as soon as one is not (the codes are then
/// not all written).
int descent_encode_byte_codes(uint8_t *codes, const float *values, size_t count);

#endif
