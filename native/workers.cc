/*
 * workers.cc -- the AsyncWorkers that run writeBatch and persist off the event loop
 */
#include "workers.h"

#include <utility>

#include "pool_mapping.h"

namespace rpmem {

/* MappingWorker -- pins the mapping's JS object for the worker's life */
MappingWorker::MappingWorker(Napi::Env env, const char* name, PoolMapping* mapping,
                             std::shared_ptr<PoolFile> file)
    : Napi::AsyncWorker(env, name),
      file_(std::move(file)),
      deferred_(Napi::Promise::Deferred::New(env)),
      mapping_(mapping),
      mapping_ref_(Napi::Persistent(mapping->Value())) {}

/* OnOK -- settles the caller's promise first, so a close() waiting on this worker resolves after it */
void MappingWorker::OnOK() {
  if (status_.ok()) {
    deferred_.Resolve(Env().Undefined());
  } else {
    deferred_.Reject(ToJsError(Env(), status_).Value());
  }
  mapping_->WorkerFinished();
}

/* OnError -- Execute threw (std::bad_alloc building a message); reject rather than leave the promise pending */
void MappingWorker::OnError(const Napi::Error& error) {
  status_ = Fail(code::kInternal, error.Message());
  OnOK();
}

/* WriteBatchWorker -- takes the validated plan and the references that keep its Buffers alive */
WriteBatchWorker::WriteBatchWorker(Napi::Env env, PoolMapping* mapping, std::shared_ptr<PoolFile> file,
                                   WritePlan plan, Napi::ObjectReference buffers)
    : MappingWorker(env, "rpmem:writeBatch", mapping, std::move(file)),
      plan_(std::move(plan)),
      buffers_(std::move(buffers)) {}

/* Execute -- on a threadpool thread */
void WriteBatchWorker::Execute() {
  status_ = file_->WriteBatch(plan_);
}

/* PersistWorker -- takes a validated range */
PersistWorker::PersistWorker(Napi::Env env, PoolMapping* mapping, std::shared_ptr<PoolFile> file,
                             uint64_t offset, uint64_t length, bool deep)
    : MappingWorker(env, "rpmem:persist", mapping, std::move(file)), offset_(offset), length_(length), deep_(deep) {}

/* Execute -- on a threadpool thread */
void PersistWorker::Execute() {
  status_ = file_->Persist(offset_, length_, deep_);
}

}  // namespace rpmem
