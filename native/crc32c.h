/*
 * crc32c.h -- CRC32C (Castagnoli), the checksum carried with every replicated range
 */
#ifndef RPMEM_NATIVE_CRC32C_H
#define RPMEM_NATIVE_CRC32C_H

#include <cstddef>
#include <cstdint>

namespace rpmem {

/*
 * Crc32c -- the CRC32C of data continuing from `crc`, the CRC of everything before it (0 for
 * none), so Crc32c(Crc32c(0, a), b) == Crc32c(0, a ++ b). SSE4.2 when the CPU has it.
 */
uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t length);

}  // namespace rpmem

#endif
