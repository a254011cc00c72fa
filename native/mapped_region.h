/*
 * mapped_region.h -- the address range a pool file is mapped at, kept reserved while anything
 * still points into it
 *
 * Owned through std::shared_ptr by the PoolFile and by every external Buffer from buffer(). When
 * the file closes, Detach swaps the file pages for anonymous memory at the same address, so a
 * Buffer view that outlives the file neither faults nor reaches the file; the range is unmapped
 * when the last owner lets go.
 */
#ifndef RPMEM_NATIVE_MAPPED_REGION_H
#define RPMEM_NATIVE_MAPPED_REGION_H

#include <cstddef>
#include <cstdint>

namespace rpmem {

class MappedRegion {
 public:
  /* MappedRegion -- takes ownership of an existing mapping of `length` bytes at `base` */
  MappedRegion(uint8_t* base, size_t length);
  /* ~MappedRegion -- unmaps the range */
  ~MappedRegion();
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;

  /* base -- the first byte of the range */
  uint8_t* base() const { return base_; }

  /* Detach -- replaces the file pages with private anonymous memory at the same address */
  void Detach();

 private:
  uint8_t* const base_;
  const size_t length_;
};

}  // namespace rpmem

#endif
