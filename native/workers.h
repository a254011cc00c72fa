/*
 * workers.h -- the AsyncWorkers that run writeBatch and persist off the event loop
 *
 * Arguments are copied into plain structs on the JS thread and Execute touches no Napi. A worker
 * holds the PoolFile (so the descriptor and mapping outlive it), a reference to an array of the
 * caller's Buffers (so GC cannot free memory it reads) and a reference to the mapping's JS object
 * (so the PoolMapping it reports back to is still alive when it completes).
 */
#ifndef RPMEM_NATIVE_WORKERS_H
#define RPMEM_NATIVE_WORKERS_H

#include <napi.h>

#include <cstdint>
#include <memory>

#include "errors.h"
#include "persist.h"
#include "pool_file.h"

namespace rpmem {

class PoolMapping;

/* Settles a promise with the worker's Status, then tells the mapping it finished. */
class MappingWorker : public Napi::AsyncWorker {
 public:
  /* Promise -- the promise this worker settles */
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  MappingWorker(Napi::Env env, const char* name, PoolMapping* mapping, std::shared_ptr<PoolFile> file);

  /* OnOK -- on the JS thread after Execute: settles the promise with status_ */
  void OnOK() override;
  /* OnError -- Execute threw: rejects with INTERNAL */
  void OnError(const Napi::Error& error) override;

  const std::shared_ptr<PoolFile> file_;
  Status status_;

 private:
  Napi::Promise::Deferred deferred_;
  PoolMapping* const mapping_;
  Napi::ObjectReference mapping_ref_;
};

class WriteBatchWorker : public MappingWorker {
 public:
  WriteBatchWorker(Napi::Env env, PoolMapping* mapping, std::shared_ptr<PoolFile> file, WritePlan plan,
                   Napi::ObjectReference buffers);

 protected:
  void Execute() override;

 private:
  const WritePlan plan_;
  Napi::ObjectReference buffers_; /* an array holding every Buffer of the plan */
};

class PersistWorker : public MappingWorker {
 public:
  PersistWorker(Napi::Env env, PoolMapping* mapping, std::shared_ptr<PoolFile> file, uint64_t offset,
                uint64_t length, bool deep);

 protected:
  void Execute() override;

 private:
  const uint64_t offset_;
  const uint64_t length_;
  const bool deep_;
};

}  // namespace rpmem

#endif
