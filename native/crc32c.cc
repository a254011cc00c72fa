/*
 * crc32c.cc -- CRC32C with the SSE4.2 CRC32 instruction, and a table for CPUs without it
 */
#include "crc32c.h"

#include <nmmintrin.h>

#include <array>
#include <cstring>

#include "cpu_features.h"

namespace rpmem {

namespace {

/* the reflected Castagnoli polynomial, as the SSE4.2 CRC32 instruction uses it */
constexpr uint32_t kPolynomial = 0x82F63B78u;

/* MakeTable -- the byte-at-a-time lookup table, built at compile time */
constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) != 0 ? kPolynomial : 0u);
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

using UpdateFn = uint32_t (*)(uint32_t state, const uint8_t* data, size_t length);

/* UpdateTable -- advances the raw (uninverted) CRC state one byte at a time */
uint32_t UpdateTable(uint32_t state, const uint8_t* data, size_t length) {
  for (size_t i = 0; i < length; ++i) state = kTable[(state ^ data[i]) & 0xFFu] ^ (state >> 8);
  return state;
}

/* UpdateSse42 -- advances the raw CRC state eight bytes per CRC32 instruction */
__attribute__((target("sse4.2"))) uint32_t UpdateSse42(uint32_t state, const uint8_t* data,
                                                       size_t length) {
  uint64_t wide = state;
  for (; length >= sizeof(uint64_t); data += sizeof(uint64_t), length -= sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, data, sizeof word); /* buffers need not be 8-byte aligned */
    wide = _mm_crc32_u64(wide, word);
  }
  uint32_t narrow = static_cast<uint32_t>(wide);
  for (; length > 0; ++data, --length) narrow = _mm_crc32_u8(narrow, *data);
  return narrow;
}

/* SelectedUpdate -- the implementation chosen once for this CPU */
UpdateFn SelectedUpdate() {
  static const UpdateFn update = DetectedCpuFeatures().sse42 ? UpdateSse42 : UpdateTable;
  return update;
}

}  // namespace

/* Crc32c -- the CRC32C of data continuing from `crc` (the CRC of everything before it) */
uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t length) {
  return ~SelectedUpdate()(~crc, data, length);
}

}  // namespace rpmem
