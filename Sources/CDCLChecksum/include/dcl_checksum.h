#ifndef DCL_CHECKSUM_H
#define DCL_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli) checksum over `length` bytes at `data`.
/// Start with crc = 0; the result of one call can be passed as `crc` to continue.
/// Uses the CPU's CRC32C instruction when available (SSE4.2 / ARMv8 CRC), a table otherwise.
uint32_t dcl_crc32c(uint32_t crc, const void *data, size_t length);

/// The table-driven implementation only, for testing the accelerated one against it.
uint32_t dcl_crc32c_portable(uint32_t crc, const void *data, size_t length);

#endif
