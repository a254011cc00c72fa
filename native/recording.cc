/*
 * recording.cc -- appending and handing out recorded persistence events
 */
#include "recording.h"

#include <atomic>
#include <utility>

namespace rpmem {

namespace {
std::atomic<uint64_t> next_order{1};
}  // namespace

/* NextRecordedOrder -- the next process-wide event number (also a marker for JS, see addon.cc) */
uint64_t NextRecordedOrder() {
  return next_order.fetch_add(1);
}

/* Add -- appends an event; `bytes` (length bytes, or null) is copied for snapshot/store/pwrite */
void Recording::Add(EventKind kind, uint64_t offset, uint64_t length, const uint8_t* bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t data_at = data_.size();
  if (bytes != nullptr) data_.insert(data_.end(), bytes, bytes + length);
  /* the order is taken under the lock, so one pool's events are in order of their numbers */
  events_.push_back(RecordedEvent{NextRecordedOrder(), kind, offset, length, data_at});
}

/* Take -- moves out every event and byte recorded so far, leaving the recording empty */
void Recording::Take(std::vector<RecordedEvent>* events, std::vector<uint8_t>* data) {
  std::lock_guard<std::mutex> lock(mutex_);
  *events = std::move(events_);
  *data = std::move(data_);
  events_.clear();
  data_.clear();
}

/* Count -- events recorded since the last Take */
size_t Recording::Count() {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_.size();
}

}  // namespace rpmem
