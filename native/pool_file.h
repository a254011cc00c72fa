/*
 * pool_file.h -- one open, locked and mapped pool file (the control plane: open, create,
 * attributes, sticky failure, teardown)
 *
 * Plain C++ with no Napi, so worker threads may use it. The JS object and every in-flight worker
 * share it through std::shared_ptr; the file is unmapped, unlocked and closed when the last of
 * them lets go, so no worker ever writes through a closed (or reused) descriptor.
 */
#ifndef RPMEM_NATIVE_POOL_FILE_H
#define RPMEM_NATIVE_POOL_FILE_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "errors.h"
#include "mapped_region.h"
#include "recording.h"

namespace rpmem {

enum class Granularity { kCacheLine, kPage };
enum class GranularityRequest { kAuto, kCacheLine, kPage };

struct OpenOptions {
  std::string path;
  bool create = false;
  uint64_t size = 0; /* bytes; used only with create */
  GranularityRequest granularity = GranularityRequest::kAuto;
  bool read_only = false;
  bool record = false; /* test mode: the recording persistence domain (recording.h) */
};

/* What open decided about a pool; fixed for the pool's life. */
struct PoolInfo {
  std::string path;
  uint64_t size = 0;
  Granularity granularity = Granularity::kPage;
  bool is_pmem = false;
  bool read_only = false;
};

struct WritePlan;
struct PersistOps;

class PoolFile {
 public:
  /* Open -- opens or creates, locks and maps a pool file */
  static Status Open(const OpenOptions& options, std::shared_ptr<PoolFile>* out);
  /* ~PoolFile -- detaches the mapping from the file, then unlocks and closes it */
  ~PoolFile();
  PoolFile(const PoolFile&) = delete;
  PoolFile& operator=(const PoolFile&) = delete;

  /* info -- what open decided: path, size, granularity, is_pmem, read_only */
  const PoolInfo& info() const { return info_; }
  /* fd -- the locked descriptor, for pwrite and fdatasync */
  int fd() const { return fd_; }
  /* base -- the first byte of the mapping (file offset 0) */
  uint8_t* base() const { return region_->base(); }
  /* region -- a share of the address range, for Buffer views that may outlive this file */
  const std::shared_ptr<MappedRegion>& region() const { return region_; }

  /* Contains -- whether [offset, offset+length) lies inside the file (overflow-safe) */
  bool Contains(uint64_t offset, uint64_t length) const { return offset <= info_.size && length <= info_.size - offset; }
  /* CheckRange -- OUT_OF_RANGE unless [offset, offset+length) lies inside the file */
  Status CheckRange(uint64_t offset, uint64_t length) const;
  /* Writable -- neither read-only nor failed; the check without building a Status */
  bool Writable() const { return !info_.read_only && !failed(); }
  /* CheckWritable -- refuses writes and persists on a read-only or failed pool */
  Status CheckWritable() const;

  /* WriteBatch -- copies the plan's ranges in and makes them durable (by granularity); refused if unwritable */
  Status WriteBatch(const WritePlan& plan);
  /* Persist -- makes a range stored through the mapping durable (by granularity); refused if unwritable */
  Status Persist(uint64_t offset, uint64_t length, bool deep);

  /* recording -- the recording persistence domain's events, or null when the pool does not record */
  const std::shared_ptr<Recording>& recording() const { return recording_; }

  /* failed -- whether a flush/sync step failed (sticky) */
  bool failed() const { return failed_.load(); }
  /* MarkFailed -- makes the pool failed for good: every later write or persist is refused */
  void MarkFailed() { failed_.store(true); }
  /* InjectSyncFailure -- test seam: the next flush/sync step fails with `err` */
  void InjectSyncFailure(int err) { injected_errno_.store(err); }
  /*
   * TakeInjectedFailure -- the injected errno (0 if none), consumed so only one step fails. A plain
   * load first: the exchange is a locked instruction, a full barrier that waits for every CLWB
   * before it, and was 38% of a one-range cache-line batch (two per batch) when taken every time.
   * Relaxed is enough: the seam is set before the call it targets is made, and queuing a worker
   * orders the two.
   */
  int TakeInjectedFailure() {
    return injected_errno_.load(std::memory_order_relaxed) == 0 ? 0 : injected_errno_.exchange(0);
  }

 private:
  PoolFile(PoolInfo info, int fd, std::shared_ptr<MappedRegion> region, const PersistOps* ops,
           std::shared_ptr<Recording> recording);

  const PoolInfo info_;
  const int fd_;
  const std::shared_ptr<MappedRegion> region_;
  const PersistOps* const ops_;
  const std::shared_ptr<Recording> recording_;
  std::atomic<bool> failed_{false};
  std::atomic<int> injected_errno_{0};
};

}  // namespace rpmem

#endif
