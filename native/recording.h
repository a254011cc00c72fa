/*
 * recording.h -- the recording persistence domain: every store, flush, fence and sync of one pool,
 * in order, for the crash-image harness (test/helpers/crash-images.ts)
 *
 * A pool opened with {record: true} keeps one Recording; the persist routines then run through the
 * recording domain (persist.cc), which appends an event before doing exactly what the real domain
 * does. A pool opened without it never touches this file's code on its persist path.
 */
#ifndef RPMEM_NATIVE_RECORDING_H
#define RPMEM_NATIVE_RECORDING_H

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace rpmem {

/* The JS contract numbers these; keep them in step with test/helpers/crash-recording.ts. */
enum class EventKind : uint8_t {
  kSnapshot = 0,  /* the whole file as it was when the pool opened (bytes) */
  kStore = 1,     /* bytes copied into the mapping (or found there by persist(), stored through a view) */
  kFlush = 2,     /* write-back started of the cache lines [offset, offset+length) */
  kFence = 3,     /* SFENCE */
  kPwrite = 4,    /* bytes written with pwrite(2) */
  kFdatasync = 5, /* fdatasync(2) of the whole file returned 0 */
  kMsync = 6,     /* msync(MS_SYNC) of the pages [offset, offset+length) returned 0 */
};

struct RecordedEvent {
  uint64_t order; /* process-wide, so recordings of several pools interleave exactly */
  EventKind kind;
  uint64_t offset;
  uint64_t length;
  uint64_t data_at; /* start of this event's bytes in the recording's data, for snapshot/store/pwrite */
};

class Recording {
 public:
  /* Add -- appends an event; `bytes` (length bytes, or null) is copied for snapshot/store/pwrite */
  void Add(EventKind kind, uint64_t offset, uint64_t length, const uint8_t* bytes);
  /* Take -- moves out every event and byte recorded so far, leaving the recording empty */
  void Take(std::vector<RecordedEvent>* events, std::vector<uint8_t>* data);
  /* Count -- events recorded since the last Take */
  size_t Count();

 private:
  std::mutex mutex_;
  std::vector<RecordedEvent> events_;
  std::vector<uint8_t> data_;
};

/* NextRecordedOrder -- the next process-wide event number (also a marker for JS, see addon.cc) */
uint64_t NextRecordedOrder();

}  // namespace rpmem

#endif
