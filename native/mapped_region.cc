/*
 * mapped_region.cc -- reserving, detaching and releasing a pool's address range
 */
#include "mapped_region.h"

#include <sys/mman.h>

namespace rpmem {

/* MappedRegion -- takes ownership of an existing mapping of `length` bytes at `base` */
MappedRegion::MappedRegion(uint8_t* base, size_t length) : base_(base), length_(length) {}

/* ~MappedRegion -- unmaps the range */
MappedRegion::~MappedRegion() {
  munmap(base_, length_);
}

/* Detach -- replaces the file pages with private anonymous memory at the same address */
void MappedRegion::Detach() {
  /*
   * MAP_FIXED swaps the pages atomically, so a concurrent reader sees file data or zeros, never
   * a hole. Should it fail (ENOMEM), the file mapping stays: views keep working, still backed by
   * the file, which beats unmapping memory a live Buffer points at.
   */
  mmap(base_, length_, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
       -1, 0);
}

}  // namespace rpmem
