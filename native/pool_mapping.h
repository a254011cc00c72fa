/*
 * pool_mapping.h -- PoolMapping, the JS class that owns one mapped pool file
 *
 * Lifecycle: open -> closing (close() called while workers run: new calls reject CLOSED) ->
 * closed (file released). The file is also released when the object is garbage collected or its
 * environment (the main thread or a worker_thread) is torn down without close().
 */
#ifndef RPMEM_NATIVE_POOL_MAPPING_H
#define RPMEM_NATIVE_POOL_MAPPING_H

#include <napi.h>

#include <memory>
#include <vector>

#include "errors.h"
#include "persist.h"
#include "pool_file.h"

namespace rpmem {

class MappingWorker;

class PoolMapping : public Napi::ObjectWrap<PoolMapping> {
 public:
  /*
   * Cache-line writes and persists (not deep) of fewer bytes run on the calling thread and return
   * a settled promise. Measured on /dev/shm (2 loaded cores): a 128 KiB write inline holds the JS
   * thread 13 us, while merely queuing a worker holds it 15-25 us and the whole worker call takes
   * ~60 us; at 256 KiB inline (20 us) matches that queuing cost, and beyond it a worker frees the
   * event loop for longer than it costs.
   */
  static constexpr uint64_t kInlineMaxBytes = 128 * 1024;

  /* writePacked's plan holds one (pool offset, source start, length) triple per range */
  static constexpr size_t kPackedRangeFields = 3;

  /* Define -- the PoolMapping constructor for module exports */
  static Napi::Function Define(Napi::Env env);

  /* PoolMapping -- new PoolMapping(path, options): opens or creates the pool file */
  explicit PoolMapping(const Napi::CallbackInfo& info);
  /* ~PoolMapping -- GC of an unclosed mapping releases the file */
  ~PoolMapping() override;

  /* WorkerFinished -- a worker settled its promise; finishes a close() that waited for it */
  void WorkerFinished();

 private:
  Napi::Value GetPath(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetGranularity(const Napi::CallbackInfo& info);
  Napi::Value GetIsPmem(const Napi::CallbackInfo& info);
  Napi::Value GetFlushInstruction(const Napi::CallbackInfo& info);
  Napi::Value GetReadOnly(const Napi::CallbackInfo& info);
  Napi::Value GetFailed(const Napi::CallbackInfo& info);

  Napi::Value WriteBatch(const Napi::CallbackInfo& info);
  Napi::Value WritePacked(const Napi::CallbackInfo& info);
  Napi::Value Persist(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void FailNextSync(const Napi::CallbackInfo& info);
  Napi::Value TakeRecording(const Napi::CallbackInfo& info);
  Napi::Value BenchWritePacked(const Napi::CallbackInfo& info);

  Status CheckOpen() const;
  bool RunsInline(uint64_t bytes, bool deep) const;
  /* Checks a write call's ranges (its first two arguments) into `plan`; `sources` gets what must stay alive */
  using RangePlanner = Status (*)(const Napi::CallbackInfo& info, const PoolFile& file, WritePlan* plan,
                                  std::vector<napi_value>* sources);
  Napi::Value SubmitWrite(const Napi::CallbackInfo& info, RangePlanner plan_ranges);
  Napi::Value Start(MappingWorker* worker);
  void ReleaseFile();
  static void OnEnvironmentCleanup(void* self);

  PoolInfo info_;                  /* kept for the getters after close */
  std::shared_ptr<PoolFile> file_; /* null once closed */
  std::shared_ptr<Recording> recording_; /* null unless opened with record; outlives close */
  bool failed_when_closed_ = false;
  bool close_requested_ = false;
  unsigned workers_in_flight_ = 0;
  std::vector<Napi::Promise::Deferred> close_waiters_;
  Napi::Reference<Napi::Buffer<uint8_t>> view_; /* buffer() hands out one view per mapping */
  bool cleanup_hook_added_ = false;
};

}  // namespace rpmem

#endif
