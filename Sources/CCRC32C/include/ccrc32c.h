#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SSE4.2 crc32 instruction (CRC-32C in hardware), else 0.
int descent_crc32c_hardware_available(void);

/// Continues the raw CRC-32C register `state` (not inverted) over `length` bytes at `data`
/// with the crc32 instruction. Call only when descent_crc32c_hardware_available() is 1.
uint32_t descent_crc32c_hardware_update(uint32_t state, const void *data, size_t length);

#endif
