/*
 * persist.h -- the data plane: copying ranges into a pool and making them durable
 *
 * One routine pair per granularity, chosen once when the pool opens (as libpmem2 does):
 * cache-line flushes each touched line and fences; page writes with pwrite and syncs the file.
 */
#ifndef RPMEM_NATIVE_PERSIST_H
#define RPMEM_NATIVE_PERSIST_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "errors.h"
#include "pool_file.h"

namespace rpmem {

/* One range to store: `length` bytes from `data` (owned by the caller) at file `offset`. */
struct WriteRange {
  uint64_t offset;
  const uint8_t* data;
  size_t length;
};

/* A validated writeBatch: the ranges, then the optional trailer, made durable strictly after them. */
struct WritePlan {
  std::vector<WriteRange> ranges;
  bool has_trailer = false;
  WriteRange trailer{0, nullptr, 0};
  bool deep = false;
};

struct PersistOps {
  Status (*write_batch)(PoolFile& pool, const WritePlan& plan);
  Status (*persist)(PoolFile& pool, uint64_t offset, uint64_t length, bool deep);
};

/* PersistOpsFor -- the routines for a granularity, in the recording domain or the real one */
const PersistOps& PersistOpsFor(Granularity granularity, bool recording);

}  // namespace rpmem

#endif
