/*
 * persist.cc -- the cache-line and page persist routines
 *
 * Every fence goes through FenceFailed and every sync step through RunSyncStep, so a failure,
 * real or injected by failNextSync, fails the whole call and makes the pool failed for good (I1).
 */
#include "persist.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "flush.h"
#include "recording.h"

namespace rpmem {

namespace {

/* PageBytes -- the system page size, the unit msync works in */
uint64_t PageBytes() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

/*
 * The persistence domain: the real one does the stores, flushes, fences and syncs; the recording
 * one records each, in order, then does exactly the same. The routines below are templates over
 * the domain, so the order a recording shows is the order production code runs, and the real
 * instantiation has no recording branch at all.
 */
struct RealDomain {
  /* Store -- copies `length` bytes into the mapping */
  static void Store(PoolFile&, uint8_t* dest, const uint8_t* src, size_t length) {
    /* memmove: the source may itself be a view of this mapping */
    std::memmove(dest, src, length);
  }
  /* StoredThroughView -- persist() of bytes the caller stored through buffer(): nothing to do */
  static void StoredThroughView(PoolFile&, uint64_t, uint64_t) {}
  /* Flush -- starts write-back of the lines the range touches */
  template <FlushInstruction instruction>
  static void Flush(PoolFile&, const uint8_t* addr, size_t length) {
    FlushLines<instruction>(addr, length);
  }
  /* Fence -- SFENCE */
  static void Fence(PoolFile&) { StoreFence(); }
  /* Pwrite -- one pwrite(2); the caller resumes short writes */
  static ssize_t Pwrite(PoolFile& pool, const uint8_t* data, size_t length, uint64_t offset) {
    return pwrite(pool.fd(), data, length, static_cast<off_t>(offset));
  }
  /* Fdatasync -- fdatasync(2) of the pool file */
  static int Fdatasync(PoolFile& pool) { return fdatasync(pool.fd()); }
  /* Msync -- msync(MS_SYNC) of page-aligned [start, start+length) */
  static int Msync(PoolFile& pool, uint64_t start, uint64_t length) {
    return msync(pool.base() + start, length, MS_SYNC);
  }
};

/* Each RecordingDomain step records what RealDomain does, in the order it happens: a store or
 * pwrite after it (with the bytes now there), a flush before it, a fence or sync once it returned. */
struct RecordingDomain {
  static void Store(PoolFile& pool, uint8_t* dest, const uint8_t* src, size_t length) {
    RealDomain::Store(pool, dest, src, length);
    pool.recording()->Add(EventKind::kStore, static_cast<uint64_t>(dest - pool.base()), length, dest);
  }
  static void StoredThroughView(PoolFile& pool, uint64_t offset, uint64_t length) {
    pool.recording()->Add(EventKind::kStore, offset, length, pool.base() + offset);
  }
  template <FlushInstruction instruction>
  static void Flush(PoolFile& pool, const uint8_t* addr, size_t length) {
    if (length > 0) {
      uint64_t start = static_cast<uint64_t>(addr - pool.base());
      uint64_t first = start & ~(kCacheLineBytes - 1);
      uint64_t end = (start + length + kCacheLineBytes - 1) & ~(kCacheLineBytes - 1);
      pool.recording()->Add(EventKind::kFlush, first, end - first, nullptr);
    }
    RealDomain::Flush<instruction>(pool, addr, length);
  }
  static void Fence(PoolFile& pool) {
    RealDomain::Fence(pool);
    pool.recording()->Add(EventKind::kFence, 0, 0, nullptr);
  }
  static ssize_t Pwrite(PoolFile& pool, const uint8_t* data, size_t length, uint64_t offset) {
    ssize_t written = RealDomain::Pwrite(pool, data, length, offset);
    if (written > 0) pool.recording()->Add(EventKind::kPwrite, offset, static_cast<uint64_t>(written), data);
    return written;
  }
  static int Fdatasync(PoolFile& pool) {
    int result = RealDomain::Fdatasync(pool);
    if (result == 0) pool.recording()->Add(EventKind::kFdatasync, 0, 0, nullptr);
    return result;
  }
  static int Msync(PoolFile& pool, uint64_t start, uint64_t length) {
    int result = RealDomain::Msync(pool, start, length);
    if (result == 0) pool.recording()->Add(EventKind::kMsync, start, length, nullptr);
    return result;
  }
};

/* RangeText -- "offset O length L of pool file P", for messages */
std::string RangeText(const PoolFile& pool, uint64_t offset, uint64_t length) {
  return "offset " + std::to_string(offset) + " length " + std::to_string(length) + " of pool file " +
         pool.info().path;
}

/* GroupText -- names a group of ranges by its size and first range, for messages */
std::string GroupText(const PoolFile& pool, const WriteRange* ranges, size_t count) {
  if (count == 0) return "0 ranges of pool file " + pool.info().path;
  return std::to_string(count) + " range(s) from " + RangeText(pool, ranges[0].offset, ranges[0].length);
}

/* IoFailure -- the IO Status for a failed step; the pool becomes failed */
Status IoFailure(PoolFile& pool, int err, const std::string& what) {
  pool.MarkFailed();
  return FailErrno(code::kIo, err, what + " failed");
}

/*
 * RunSyncStep -- one flush/sync step; `call` returns 0 or -1 with errno set, like a syscall.
 * `describe` names the step only on failure, keeping string building off the hot path.
 */
template <typename Call, typename Describe>
Status RunSyncStep(PoolFile& pool, const Call& call, const Describe& describe) {
  int err = pool.TakeInjectedFailure();
  if (err == 0 && call() != 0) err = errno;
  if (err == 0) return Status{};
  return IoFailure(pool, err, describe());
}

/*
 * FenceFailed -- the SFENCE that makes the flushes before it complete, unless failNextSync
 * targets it; true when it failed. No Status on success: when each fence built one (through
 * RunSyncStep, whose by-value closure also cost a store-forwarding stall right after the
 * flushes), a one-range 64 B batch took 0.66 us at p50 against libpmem2's 0.31 us; without, 0.30-0.40.
 */
template <typename Domain>
bool FenceFailed(PoolFile& pool, int* err) {
  *err = pool.TakeInjectedFailure();
  if (*err == 0) Domain::Fence(pool);
  return *err != 0;
}

/* FenceFailure -- the IO Status of a fence failNextSync failed; off the hot path */
__attribute__((noinline, cold)) Status FenceFailure(PoolFile& pool, int err, const WriteRange* ranges, size_t count) {
  return IoFailure(pool, err, "fence after storing " + GroupText(pool, ranges, count));
}

/* MsyncPages -- msync(MS_SYNC) of every page covering the given ranges, each page once */
template <typename Domain>
Status MsyncPages(PoolFile& pool, const WriteRange* ranges, size_t count) {
  const uint64_t page = PageBytes();
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  spans.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t start = ranges[i].offset & ~(page - 1);
    uint64_t end = (ranges[i].offset + ranges[i].length + page - 1) & ~(page - 1);
    spans.emplace_back(start, end);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 0; i < spans.size();) {
    uint64_t start = spans[i].first, end = spans[i].second;
    for (++i; i < spans.size() && spans[i].first <= end; ++i) end = std::max(end, spans[i].second);
    Status status = RunSyncStep(
        pool, [&] { return Domain::Msync(pool, start, end - start); },
        [&] { return "msync of " + RangeText(pool, start, end - start); });
    if (!status.ok()) return status;
  }
  return Status{};
}

/* StoreAndFlush -- copies ranges into the mapping and starts write-back of their lines */
template <typename Domain, FlushInstruction instruction>
__attribute__((always_inline)) inline void StoreAndFlush(PoolFile& pool, const WriteRange* ranges, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    uint8_t* dest = pool.base() + ranges[i].offset;
    Domain::Store(pool, dest, ranges[i].data, ranges[i].length);
    Domain::template Flush<instruction>(pool, dest, ranges[i].length);
  }
}

/*
 * WriteBatchCacheLine -- data durable (flush + fence; msync too when deep), then the trailer the
 * same way after them (I2). The usual batch (not deep) builds no Status until it returns.
 */
template <typename Domain, FlushInstruction instruction>
Status WriteBatchCacheLine(PoolFile& pool, const WritePlan& plan) {
  const WriteRange* ranges = plan.ranges.data();
  const size_t count = plan.ranges.size();
  StoreAndFlush<Domain, instruction>(pool, ranges, count);
  int err;
  if (FenceFailed<Domain>(pool, &err)) return FenceFailure(pool, err, ranges, count);
  if (plan.deep) {
    Status status = MsyncPages<Domain>(pool, ranges, count);
    if (!status.ok()) return status;
  }
  if (!plan.has_trailer) return Status{};
  StoreAndFlush<Domain, instruction>(pool, &plan.trailer, 1);
  if (FenceFailed<Domain>(pool, &err)) return FenceFailure(pool, err, &plan.trailer, 1);
  return plan.deep ? MsyncPages<Domain>(pool, &plan.trailer, 1) : Status{};
}

/* PersistCacheLine -- flush + fence of a range stored through the mapping; msync too when deep */
template <typename Domain, FlushInstruction instruction>
Status PersistCacheLine(PoolFile& pool, uint64_t offset, uint64_t length, bool deep) {
  WriteRange range{offset, nullptr, length};
  Domain::StoredThroughView(pool, offset, length);
  Domain::template Flush<instruction>(pool, pool.base() + offset, length);
  int err;
  if (FenceFailed<Domain>(pool, &err)) return FenceFailure(pool, err, &range, 1);
  return deep ? MsyncPages<Domain>(pool, &range, 1) : Status{};
}

/* PwriteAll -- pwrite(2) of one range, resuming after short writes and EINTR */
template <typename Domain>
Status PwriteAll(PoolFile& pool, const WriteRange& range) {
  const uint8_t* data = range.data;
  size_t left = range.length;
  uint64_t offset = range.offset;
  while (left > 0) {
    ssize_t written = Domain::Pwrite(pool, data, left, offset);
    if (written < 0 && errno == EINTR) continue;
    /* a regular file never accepts 0 bytes of a non-empty write; treat it as an error, not a retry */
    if (written <= 0) {
      return IoFailure(pool, written < 0 ? errno : EIO, "pwrite at " + RangeText(pool, range.offset, range.length));
    }
    data += written;
    offset += static_cast<uint64_t>(written);
    left -= static_cast<size_t>(written);
  }
  return Status{};
}

/*
 * BlankTrailer -- after a failed fdatasync, zeroes the trailer (a header slot) just pwritten, best
 * effort: the kernel may still write that page back later, and a header slot must never reach the
 * disk claiming data that did not (I2). A zeroed slot is invalid, so readers keep the previous one.
 */
template <typename Domain>
void BlankTrailer(PoolFile& pool, const WriteRange& trailer) {
  std::vector<uint8_t> zeros(trailer.length, 0);
  WriteRange blank{trailer.offset, zeros.data(), trailer.length};
  if (PwriteAll<Domain>(pool, blank).ok()) (void)Domain::Fdatasync(pool);
}

/* FdatasyncAfter -- fdatasync of the whole file after writing `count` ranges; a failNextSync target */
template <typename Domain>
Status FdatasyncAfter(PoolFile& pool, const WriteRange* ranges, size_t count) {
  return RunSyncStep(
      pool, [&] { return Domain::Fdatasync(pool); },
      [&] { return "fdatasync after writing " + GroupText(pool, ranges, count); });
}

/*
 * WriteBatchPage -- pwrite every range, fdatasync, then pwrite the trailer and fdatasync again
 * (I2: nothing is acked before the last returns). Two syncs, not one for both: the kernel writes
 * dirty pages back in any order, before or during an fdatasync, so with one sync a power loss can
 * leave the header sector on disk without the data sectors it describes (found by the crash-image
 * harness, test/crash-images.test.ts). Not stores + msync: on this ext4 with large folios, msync
 * of a 64 B store wrote back the whole ~1 MiB folio, pwrite + fdatasync only the 4 KiB block, and
 * was 2-3.5x faster (2000 random 64 B and 4 KiB persists each). `deep` adds nothing here.
 */
template <typename Domain>
Status WriteBatchPage(PoolFile& pool, const WritePlan& plan) {
  const WriteRange* ranges = plan.ranges.data();
  const size_t count = plan.ranges.size();
  for (const WriteRange& range : plan.ranges) {
    Status status = PwriteAll<Domain>(pool, range);
    if (!status.ok()) return status;
  }
  if (count > 0) {
    Status status = FdatasyncAfter<Domain>(pool, ranges, count);
    if (!status.ok() || !plan.has_trailer) return status;
  }
  if (!plan.has_trailer) return Status{};
  Status status = PwriteAll<Domain>(pool, plan.trailer);
  if (status.ok()) status = FdatasyncAfter<Domain>(pool, &plan.trailer, 1);
  if (!status.ok()) BlankTrailer<Domain>(pool, plan.trailer);
  return status;
}

/*
 * PersistPage -- msync(MS_SYNC) of the covering pages. Stores through the mapping dirty whole
 * folios, so fdatasync would write the same bytes; msync limits the write-back to this range
 * instead of every dirty page of the file. `deep` adds nothing here.
 */
template <typename Domain>
Status PersistPage(PoolFile& pool, uint64_t offset, uint64_t length, bool) {
  WriteRange range{offset, nullptr, length};
  Domain::StoredThroughView(pool, offset, length);
  return MsyncPages<Domain>(pool, &range, 1);
}

template <typename Domain, FlushInstruction instruction>
constexpr PersistOps kCacheLineOps{WriteBatchCacheLine<Domain, instruction>, PersistCacheLine<Domain, instruction>};

/* CacheLineOps -- the cache-line routines of a domain, instantiated for this CPU's flush instruction */
template <typename Domain>
const PersistOps& CacheLineOps() {
  switch (SelectedFlushInstruction()) {
    case FlushInstruction::kClwb:
      return kCacheLineOps<Domain, FlushInstruction::kClwb>;
    case FlushInstruction::kClflushopt:
      return kCacheLineOps<Domain, FlushInstruction::kClflushopt>;
    case FlushInstruction::kClflush:
      break;
  }
  return kCacheLineOps<Domain, FlushInstruction::kClflush>;
}

constexpr PersistOps kPageOps{WriteBatchPage<RealDomain>, PersistPage<RealDomain>};
constexpr PersistOps kRecordingPageOps{WriteBatchPage<RecordingDomain>, PersistPage<RecordingDomain>};

}  // namespace

/* PersistOpsFor -- the routines for a granularity, in the recording domain or the real one */
const PersistOps& PersistOpsFor(Granularity granularity, bool recording) {
  if (recording) return granularity == Granularity::kCacheLine ? CacheLineOps<RecordingDomain>() : kRecordingPageOps;
  return granularity == Granularity::kCacheLine ? CacheLineOps<RealDomain>() : kPageOps;
}

}  // namespace rpmem
