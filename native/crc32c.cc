/*
 * crc32c.cc -- CRC32C with the SSE4.2 CRC32 instruction (three chains at once), and a table for
 * CPUs without it
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

/* UpdateSse42Serial -- advances the raw CRC state eight bytes per CRC32 instruction, one chain */
__attribute__((target("sse4.2"))) uint32_t UpdateSse42Serial(uint32_t state, const uint8_t* data,
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

/*
 * ZeroShift -- the operator "append `Bytes` zero bytes" on a raw CRC state, as four byte tables.
 *
 * The raw update is linear over GF(2): update(s, A ++ B) = shift(update(s, A)) ^ update(0, B) with
 * shift the update by |B| zero bytes, itself linear in s, so it is the XOR of its images of the
 * state's bytes. That lets three chains run over three adjacent blocks at once (one CRC32 has a
 * latency of three cycles and a throughput of one) and be joined afterwards.
 */
template <size_t Bytes>
class ZeroShift {
 public:
  ZeroShift() {
    static constexpr uint8_t kZeros[Bytes] = {};
    uint32_t bit_image[32];
    for (int bit = 0; bit < 32; ++bit) bit_image[bit] = UpdateSse42Serial(1u << bit, kZeros, Bytes);
    for (int byte = 0; byte < 4; ++byte) {
      for (uint32_t value = 0; value < 256; ++value) {
        uint32_t image = 0;
        for (int bit = 0; bit < 8; ++bit) {
          if ((value >> bit) & 1u) image ^= bit_image[byte * 8 + bit];
        }
        table_[byte][value] = image;
      }
    }
  }

  uint32_t operator()(uint32_t state) const {
    return table_[0][state & 0xFFu] ^ table_[1][(state >> 8) & 0xFFu] ^
           table_[2][(state >> 16) & 0xFFu] ^ table_[3][state >> 24];
  }

 private:
  uint32_t table_[4][256];
};

/* UpdateThreeBlocks -- advances the state over 3 * Bytes bytes, three chains at once */
template <size_t Bytes>
__attribute__((target("sse4.2"))) uint32_t UpdateThreeBlocks(uint32_t state, const uint8_t* data) {
  static const ZeroShift<Bytes> shift;
  uint64_t a = state, b = 0, c = 0;
  for (size_t at = 0; at < Bytes; at += sizeof(uint64_t)) {
    uint64_t wa, wb, wc;
    std::memcpy(&wa, data + at, sizeof wa);
    std::memcpy(&wb, data + Bytes + at, sizeof wb);
    std::memcpy(&wc, data + 2 * Bytes + at, sizeof wc);
    a = _mm_crc32_u64(a, wa);
    b = _mm_crc32_u64(b, wb);
    c = _mm_crc32_u64(c, wc);
  }
  const uint32_t ab = shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
  return shift(ab) ^ static_cast<uint32_t>(c);
}

/* Block sizes of the three chains: long ones for bulk, short ones so a 4 KiB range gains too. */
constexpr size_t kLongBlock = 8192;
constexpr size_t kShortBlock = 256;

/* UpdateSse42 -- advances the raw CRC state, three blocks at a time while they fit */
__attribute__((target("sse4.2"))) uint32_t UpdateSse42(uint32_t state, const uint8_t* data,
                                                       size_t length) {
  for (; length >= 3 * kLongBlock; data += 3 * kLongBlock, length -= 3 * kLongBlock) {
    state = UpdateThreeBlocks<kLongBlock>(state, data);
  }
  for (; length >= 3 * kShortBlock; data += 3 * kShortBlock, length -= 3 * kShortBlock) {
    state = UpdateThreeBlocks<kShortBlock>(state, data);
  }
  return UpdateSse42Serial(state, data, length);
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
