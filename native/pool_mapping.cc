/*
 * pool_mapping.cc -- PoolMapping: argument checking, the close protocol and teardown
 */
#include "pool_mapping.h"

#include <time.h>

#include <cmath>
#include <string>
#include <utility>

#include "args.h"
#include "flush.h"
#include "workers.h"

namespace rpmem {

namespace {

/* ParseGranularity -- 'auto' (or absent), 'cache-line' or 'page' */
Status ParseGranularity(const Napi::Value& value, GranularityRequest* out) {
  if (value.IsUndefined()) return Status{};
  std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "auto") {
    *out = GranularityRequest::kAuto;
  } else if (name == "cache-line") {
    *out = GranularityRequest::kCacheLine;
  } else if (name == "page") {
    *out = GranularityRequest::kPage;
  } else {
    return Fail(code::kInvalidArgument, "granularity must be 'auto', 'cache-line' or 'page'");
  }
  return Status{};
}

/* ParseOpenOptions -- the constructor's (path, {create, size, granularity, readOnly}) */
Status ParseOpenOptions(const Napi::CallbackInfo& info, OpenOptions* options) {
  if (!info[0].IsString()) return Fail(code::kInvalidArgument, "path must be a string");
  options->path = info[0].As<Napi::String>().Utf8Value();
  if (options->path.empty() || options->path.find('\0') != std::string::npos) {
    return Fail(code::kInvalidArgument, "path must be a non-empty string without NUL characters");
  }
  if (info[1].IsUndefined()) return Status{};
  if (!info[1].IsObject()) return Fail(code::kInvalidArgument, "options must be an object");
  Napi::Object object = info[1].As<Napi::Object>();
  Status status = ToFlag(object.Get("create"), "options.create", &options->create);
  if (status.ok()) status = ToFlag(object.Get("readOnly"), "options.readOnly", &options->read_only);
  if (status.ok()) status = ParseGranularity(object.Get("granularity"), &options->granularity);
  if (status.ok()) status = ToFlag(object.Get("record"), "options.record", &options->record);
  if (!status.ok()) return status;
  if (options->create && options->read_only) {
    return Fail(code::kInvalidArgument, "options.create and options.readOnly exclude each other");
  }
  if (options->create && (!ToOffset(object.Get("size"), "options.size", &options->size).ok() || options->size == 0)) {
    return Fail(code::kInvalidArgument, "options.size must be a positive integer number of bytes to create " +
                                            options->path);
  }
  return Status{};
}

/* Rejected -- a promise already rejected with `status` */
Napi::Value Rejected(Napi::Env env, const Status& status) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(ToJsError(env, status).Value());
  return deferred.Promise();
}

/*
 * KeepAlive -- one reference to a private array of the batch's Buffers, so GC cannot free memory a
 * worker reads even if the caller empties its own arrays meanwhile (cheaper than one per Buffer)
 */
Napi::ObjectReference KeepAlive(Napi::Env env, const std::vector<napi_value>& sources) {
  Napi::Array array = Napi::Array::New(env, sources.size());
  for (uint32_t i = 0; i < sources.size(); ++i) array.Set(i, sources[i]);
  return Napi::Persistent(array.As<Napi::Object>());
}

/* Resolved -- a promise already resolved with undefined */
Napi::Value Resolved(Napi::Env env) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Resolve(env.Undefined());
  return deferred.Promise();
}

/* Settled -- a promise already settled with `status`, as a worker would have settled it */
Napi::Value Settled(Napi::Env env, const Status& status) {
  return status.ok() ? Resolved(env) : Rejected(env, status);
}

/* PlanBytes -- the bytes a plan stores, trailer included */
uint64_t PlanBytes(const WritePlan& plan) {
  uint64_t bytes = plan.has_trailer ? plan.trailer.length : 0;
  for (const WriteRange& range : plan.ranges) bytes += range.length;
  return bytes;
}

/* PlanArrayRanges -- writeBatch's (offsets, datas): one range per pair, checked against the pool */
Status PlanArrayRanges(const Napi::CallbackInfo& info, const PoolFile& file, WritePlan* plan,
                       std::vector<napi_value>* sources) {
  if (!info[0].IsArray() || !info[1].IsArray()) {
    return Fail(code::kInvalidArgument, "offsets and datas must be arrays");
  }
  Napi::Array offsets = info[0].As<Napi::Array>();
  Napi::Array datas = info[1].As<Napi::Array>();
  const uint32_t count = offsets.Length();
  if (count != datas.Length()) {
    return Fail(code::kInvalidArgument, "offsets and datas differ in length (" + std::to_string(count) + " and " +
                                            std::to_string(datas.Length()) + ")");
  }
  plan->ranges.reserve(count);
  sources->reserve(count + 1);
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t offset;
    Napi::Buffer<uint8_t> data;
    Status status = ToOffset(offsets.Get(i), ArgName("offsets", i), &offset);
    if (status.ok()) status = ToBuffer(datas.Get(i), ArgName("datas", i), &data);
    if (status.ok()) status = file.CheckRange(offset, data.Length());
    if (!status.ok()) return status;
    plan->ranges.push_back(WriteRange{offset, data.Data(), data.Length()});
    sources->push_back(data);
  }
  return Status{};
}

/* SourceContains -- whether [start, start+length) lies inside a source of `bytes` (overflow-safe) */
bool SourceContains(uint64_t bytes, uint64_t start, uint64_t length) {
  return start <= bytes && length <= bytes - start;
}

/*
 * PackedRangeFailure -- why plan triple `i` was refused, checked in writeBatch's order with its
 * codes; only called once the fast check in PlanPackedRanges has refused the triple
 */
Status PackedRangeFailure(const PoolFile& file, const double* field, size_t i, uint64_t source_bytes) {
  uint64_t offset = 0, start = 0, length = 0;
  Status status = ToOffset(field[i], ArgName("plan", i), &offset);
  if (status.ok()) status = ToOffset(field[i + 1], ArgName("plan", i + 1), &start);
  if (status.ok()) status = ToOffset(field[i + 2], ArgName("plan", i + 2), &length);
  if (!status.ok()) return status;
  if (length == 0) return Fail(code::kInvalidArgument, ArgName("plan", i + 2).str() + " (a range length) must be positive");
  if (!SourceContains(source_bytes, start, length)) {
    return Fail(code::kOutOfRange, "range " + std::to_string(i / PoolMapping::kPackedRangeFields) + " at source start " +
                                       std::to_string(start) + " of length " + std::to_string(length) +
                                       " is outside the source (" + std::to_string(source_bytes) + " bytes)");
  }
  return file.CheckRange(offset, length);
}

/*
 * PlanPackedRanges -- writePacked's (source, plan): each (pool offset, source start, length) triple
 * of the Float64Array is checked as writeBatch checks an offset and a Buffer, and must lie inside
 * both the pool and the source. Only `source` is kept alive: the triples are copied out here.
 * The loop tests plain conditions and builds a Status only for a refused triple: a Status per
 * check cost ~21 ns per range here, this loop ~5, against ~26 ns for libpmem2's whole 64 B
 * store and flush.
 */
Status PlanPackedRanges(const Napi::CallbackInfo& info, const PoolFile& file, WritePlan* plan,
                        std::vector<napi_value>* sources) {
  Napi::Buffer<uint8_t> source;
  Napi::TypedArrayOf<double> fields;
  Status status = ToSource(info[0], "source", &source);
  if (status.ok()) status = ToFloat64Array(info[1], "plan", &fields);
  if (!status.ok()) return status;
  const size_t count = fields.ElementLength();
  if (count % PoolMapping::kPackedRangeFields != 0) {
    return Fail(code::kInvalidArgument, "plan holds (pool offset, source start, length) triples, but its length " +
                                            std::to_string(count) + " is not a multiple of " +
                                            std::to_string(PoolMapping::kPackedRangeFields));
  }
  const double* field = fields.Data();
  const uint64_t source_bytes = source.Length();
  plan->ranges.resize(count / PoolMapping::kPackedRangeFields);
  WriteRange* range = plan->ranges.data();
  for (size_t i = 0; i < count; i += PoolMapping::kPackedRangeFields, ++range) {
    const double offset = field[i], start = field[i + 1], length = field[i + 2];
    if (!IsOffset(offset) || !IsOffset(start) || !IsOffset(length) || length == 0 ||
        !SourceContains(source_bytes, static_cast<uint64_t>(start), static_cast<uint64_t>(length)) ||
        !file.Contains(static_cast<uint64_t>(offset), static_cast<uint64_t>(length))) {
      return PackedRangeFailure(file, field, i, source_bytes);
    }
    *range = WriteRange{static_cast<uint64_t>(offset), source.Data() + static_cast<uint64_t>(start),
                        static_cast<size_t>(length)};
  }
  sources->reserve(2);
  sources->push_back(source);
  return Status{};
}

/* MonotonicNs -- CLOCK_MONOTONIC in ns, read exactly as the libpmem2 harness reads it, so both sides of G5 pay the same timer */
uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

/* PlanTrailer -- the write calls' shared tail (trailerOffset, trailerData, deep); the trailer's Buffer joins `sources` */
Status PlanTrailer(const Napi::CallbackInfo& info, const PoolFile& file, WritePlan* plan,
                   std::vector<napi_value>* sources) {
  if (!info[3].IsNull() && !info[3].IsUndefined()) {
    uint64_t offset;
    Napi::Buffer<uint8_t> data;
    Status status = ToOffset(info[2], "trailerOffset", &offset);
    if (status.ok()) status = ToBuffer(info[3], "trailerData", &data);
    if (status.ok()) status = file.CheckRange(offset, data.Length());
    if (!status.ok()) return status;
    plan->has_trailer = true;
    plan->trailer = WriteRange{offset, data.Data(), data.Length()};
    sources->push_back(data);
  }
  return ToFlag(info[4], "deep", &plan->deep);
}

}  // namespace

/* Define -- the PoolMapping constructor for module exports */
Napi::Function PoolMapping::Define(Napi::Env env) {
  return DefineClass(env, "PoolMapping",
                     {
                         InstanceAccessor<&PoolMapping::GetPath>("path"),
                         InstanceAccessor<&PoolMapping::GetSize>("size"),
                         InstanceAccessor<&PoolMapping::GetGranularity>("granularity"),
                         InstanceAccessor<&PoolMapping::GetIsPmem>("isPmem"),
                         InstanceAccessor<&PoolMapping::GetFlushInstruction>("flushInstruction"),
                         InstanceAccessor<&PoolMapping::GetReadOnly>("readOnly"),
                         InstanceAccessor<&PoolMapping::GetFailed>("failed"),
                         InstanceMethod<&PoolMapping::WriteBatch>("writeBatch"),
                         InstanceMethod<&PoolMapping::WritePacked>("writePacked"),
                         InstanceMethod<&PoolMapping::Persist>("persist"),
                         InstanceMethod<&PoolMapping::Read>("read"),
                         InstanceMethod<&PoolMapping::View>("buffer"),
                         InstanceMethod<&PoolMapping::Close>("close"),
                         InstanceMethod<&PoolMapping::FailNextSync>("failNextSync"),
                         InstanceMethod<&PoolMapping::TakeRecording>("takeRecording"),
                         InstanceMethod<&PoolMapping::BenchWritePacked>("benchWritePacked"),
                         StaticValue("inlineMaxBytes", Napi::Number::New(env, static_cast<double>(kInlineMaxBytes))),
                         StaticValue("packedRangeFields", Napi::Number::New(env, static_cast<double>(kPackedRangeFields))),
                     });
}

/* PoolMapping -- new PoolMapping(path, options): opens or creates the pool file */
PoolMapping::PoolMapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PoolMapping>(info) {
  Napi::Env env = info.Env();
  OpenOptions options;
  ThrowIfFailed(env, ParseOpenOptions(info, &options));
  ThrowIfFailed(env, PoolFile::Open(options, &file_));
  info_ = file_->info();
  recording_ = file_->recording();
  /* a worker_thread that exits without close() must still unlock, or the pool stays BUSY until the process exits */
  if (napi_add_env_cleanup_hook(env, OnEnvironmentCleanup, this) != napi_ok) {
    ThrowIfFailed(env, Fail(code::kInternal, "cannot register the cleanup hook for " + info_.path));
  }
  cleanup_hook_added_ = true;
}

/* ~PoolMapping -- GC of an unclosed mapping releases the file */
PoolMapping::~PoolMapping() {
  /*
   * Workers pin this object, so GC cannot get here while one is in flight. At environment
   * teardown OnEnvironmentCleanup has already released the file (and is no longer registered);
   * a worker still on the threadpool then holds its own PoolFile share, so the file goes when
   * that worker lets go.
   */
  if (cleanup_hook_added_) napi_remove_env_cleanup_hook(Env(), OnEnvironmentCleanup, this);
}

/* OnEnvironmentCleanup -- the environment is going away: release the file without touching JS */
void PoolMapping::OnEnvironmentCleanup(void* self) {
  PoolMapping* mapping = static_cast<PoolMapping*>(self);
  mapping->cleanup_hook_added_ = false;
  mapping->close_requested_ = true;
  mapping->failed_when_closed_ = mapping->file_->failed();
  mapping->file_.reset();
}

/* CheckOpen -- CLOSED once close() was called, even while it waits for workers */
Status PoolMapping::CheckOpen() const {
  if (file_ && !close_requested_) return Status{};
  return Fail(code::kClosed, "pool file " + info_.path + " is closed");
}

/* RunsInline -- whether a call this size takes the calling thread instead of a worker */
bool PoolMapping::RunsInline(uint64_t bytes, bool deep) const {
  /* page granularity syncs the file, and deep msyncs: both block far longer than the hop costs */
  return info_.granularity == Granularity::kCacheLine && !deep && bytes < kInlineMaxBytes;
}

/* ReleaseFile -- drops this object's hold on the file; it is closed once no worker holds it either */
void PoolMapping::ReleaseFile() {
  failed_when_closed_ = file_->failed();
  file_.reset();
  view_.Reset();
  if (cleanup_hook_added_) {
    napi_remove_env_cleanup_hook(Env(), OnEnvironmentCleanup, this);
    cleanup_hook_added_ = false;
  }
}

/* Start -- queues a worker and counts it, so close() can wait for it */
Napi::Value PoolMapping::Start(MappingWorker* worker) {
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  /* counted only once queued (it cannot complete before we return), so a failed Queue never blocks close() */
  ++workers_in_flight_;
  return promise;
}

/* WorkerFinished -- a worker settled its promise; finishes a close() that waited for it */
void PoolMapping::WorkerFinished() {
  --workers_in_flight_;
  if (workers_in_flight_ > 0 || !close_requested_ || !file_) return;
  ReleaseFile();
  std::vector<Napi::Promise::Deferred> waiters = std::move(close_waiters_);
  close_waiters_.clear();
  for (Napi::Promise::Deferred& waiter : waiters) waiter.Resolve(Env().Undefined());
}

/* GetPath -- the pool file's path as given */
Napi::Value PoolMapping::GetPath(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), info_.path);
}

/* GetSize -- the file size in bytes */
Napi::Value PoolMapping::GetSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(info_.size));
}

/* GetGranularity -- 'cache-line' or 'page', as resolved at open */
Napi::Value PoolMapping::GetGranularity(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), info_.granularity == Granularity::kCacheLine ? "cache-line" : "page");
}

/* GetIsPmem -- whether MAP_SYNC succeeded */
Napi::Value PoolMapping::GetIsPmem(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info_.is_pmem);
}

/* GetFlushInstruction -- the CPU's flush instruction, used on cache-line granularity */
Napi::Value PoolMapping::GetFlushInstruction(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), FlushInstructionName(SelectedFlushInstruction()));
}

/* GetReadOnly -- whether the pool was opened read-only */
Napi::Value PoolMapping::GetReadOnly(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info_.read_only);
}

/* GetFailed -- whether a flush/sync failed (sticky) */
Napi::Value PoolMapping::GetFailed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), file_ ? file_->failed() : failed_when_closed_);
}

/* SubmitWrite -- plans a write with `plan_ranges`, adds the shared trailer and deep arguments, then runs it */
Napi::Value PoolMapping::SubmitWrite(const Napi::CallbackInfo& info, RangePlanner plan_ranges) {
  Napi::Env env = info.Env();
  WritePlan plan;
  std::vector<napi_value> sources;
  Status status = CheckOpen();
  if (!status.ok()) return Rejected(env, status);
  /* writeBatch's array getters run JS, which may call close(): plan against our own share of the file, then recheck */
  std::shared_ptr<PoolFile> file = file_;
  status = file->CheckWritable();
  if (status.ok()) status = plan_ranges(info, *file, &plan, &sources);
  if (status.ok()) status = PlanTrailer(info, *file, &plan, &sources);
  if (status.ok()) status = CheckOpen();
  if (!status.ok()) return Rejected(env, status);
  /* no JS runs from here to the return, so close() cannot interleave with the inline write */
  if (RunsInline(PlanBytes(plan), plan.deep)) return Settled(env, file->WriteBatch(plan));
  return Start(new WriteBatchWorker(env, this, std::move(file), std::move(plan), KeepAlive(env, sources)));
}

/* WriteBatch -- writeBatch(offsets, datas, trailerOffset, trailerData, deep): Promise<void> */
Napi::Value PoolMapping::WriteBatch(const Napi::CallbackInfo& info) {
  return SubmitWrite(info, PlanArrayRanges);
}

/* WritePacked -- writePacked(source, plan, trailerOffset, trailerData, deep): Promise<void> */
Napi::Value PoolMapping::WritePacked(const Napi::CallbackInfo& info) {
  return SubmitWrite(info, PlanPackedRanges);
}

/* Persist -- persist(offset, length, deep): Promise<void> */
Napi::Value PoolMapping::Persist(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = 0, length = 0;
  bool deep = false;
  Status status = CheckOpen();
  if (status.ok()) status = file_->CheckWritable();
  if (status.ok()) status = ToOffset(info[0], "offset", &offset);
  if (status.ok()) status = ToOffset(info[1], "length", &length);
  if (status.ok() && length == 0) status = Fail(code::kInvalidArgument, "length must be positive");
  if (status.ok()) status = file_->CheckRange(offset, length);
  if (status.ok()) status = ToFlag(info[2], "deep", &deep);
  if (!status.ok()) return Rejected(env, status);
  if (RunsInline(length, deep)) return Settled(env, file_->Persist(offset, length, deep));
  return Start(new PersistWorker(env, this, file_, offset, length, deep));
}

/* Read -- read(offset, length): a copy of the range */
Napi::Value PoolMapping::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = 0, length = 0;
  Status status = CheckOpen();
  if (status.ok()) status = ToOffset(info[0], "offset", &offset);
  if (status.ok()) status = ToOffset(info[1], "length", &length);
  if (status.ok()) status = file_->CheckRange(offset, length);
  ThrowIfFailed(env, status);
  return Napi::Buffer<uint8_t>::Copy(env, file_->base() + offset, length);
}

/* View -- buffer(): a zero-copy Buffer over the whole mapping, safe to touch after close */
Napi::Value PoolMapping::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFailed(env, CheckOpen());
  if (info_.read_only) {
    /* JS cannot make a Buffer read-only, and a store into PROT_READ memory would kill the process */
    ThrowIfFailed(env, Fail(code::kInvalidArgument,
                            "buffer() needs a writable mapping; pool file " + info_.path + " is read-only (use read())"));
  }
  if (view_.IsEmpty()) {
    /* the view owns a share of the region, so its memory stays reserved until the view is collected */
    auto owner = std::make_unique<std::shared_ptr<MappedRegion>>(file_->region());
    Napi::Buffer<uint8_t> view = Napi::Buffer<uint8_t>::New(
        env, file_->base(), info_.size,
        [](Napi::Env, uint8_t*, std::shared_ptr<MappedRegion>* region) { delete region; }, owner.get());
    owner.release();
    view_ = Napi::Persistent(view);
  }
  return view_.Value();
}

/* Close -- close(): waits for in-flight workers, then releases the file; idempotent */
Napi::Value PoolMapping::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!file_) return Resolved(env);
  close_requested_ = true;
  if (workers_in_flight_ == 0) {
    ReleaseFile();
    return Resolved(env);
  }
  Napi::Promise::Deferred waiter = Napi::Promise::Deferred::New(env);
  close_waiters_.push_back(waiter);
  return waiter.Promise();
}

/* FailNextSync -- failNextSync(errno): test seam for the next flush/sync step */
void PoolMapping::FailNextSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFailed(env, CheckOpen());
  double err = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(err >= 1 && err <= 4095 && std::trunc(err) == err)) {
    ThrowIfFailed(env, Fail(code::kInvalidArgument, "errno must be an integer from 1 to 4095"));
  }
  file_->InjectSyncFailure(static_cast<int>(err));
}

/*
 * TakeRecording -- takeRecording(): {fields, data} of the events recorded since the last call, five
 * numbers per event (order, kind, offset, length, data start); callable after close(), so the
 * recording ends with the last step a caller saw settle
 */
Napi::Value PoolMapping::TakeRecording(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!recording_) ThrowIfFailed(env, Fail(code::kInvalidArgument, "pool file " + info_.path + " was not opened with record"));
  std::vector<RecordedEvent> events;
  std::vector<uint8_t> data;
  recording_->Take(&events, &data);
  constexpr size_t kFields = 5;
  Napi::Float64Array fields = Napi::Float64Array::New(env, events.size() * kFields);
  for (size_t i = 0; i < events.size(); ++i) {
    fields[i * kFields] = static_cast<double>(events[i].order);
    fields[i * kFields + 1] = static_cast<double>(events[i].kind);
    fields[i * kFields + 2] = static_cast<double>(events[i].offset);
    fields[i * kFields + 3] = static_cast<double>(events[i].length);
    fields[i * kFields + 4] = static_cast<double>(events[i].data_at);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fields", fields);
  out.Set("data", Napi::Buffer<uint8_t>::Copy(env, data.data(), data.size()));
  return out;
}

/*
 * BenchWritePacked -- benchWritePacked(source, plan, trailerOffset, trailerData, deep, rangesPerBatch,
 * trailerStride, maxBatches, maxMs, latencies): bench only (bench/like-for-like.ts), not rpmem's API.
 * Times the writer's own batch routine, PoolFile::WriteBatch (what writePacked runs inline or on its
 * worker), from C++, so a comparison with libpmem2's C loop measures the writer and not the JS call.
 * The arguments are checked as writePacked checks them; the plan's ranges are then cut into batches of
 * `rangesPerBatch`, which run in turn (cycling) until `maxBatches` or `maxMs`; batch k writes the
 * trailer at trailerOffset + (k % 2) * trailerStride, alternating like rpmemd's two header slots.
 * With a `latencies` Float64Array, batch i's nanoseconds go to latencies[i]. Runs on the calling
 * thread; returns {batches, ns} and throws on the first failure.
 */
Napi::Value PoolMapping::BenchWritePacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfFailed(env, CheckOpen());
  std::shared_ptr<PoolFile> file = file_;
  WritePlan all;
  std::vector<napi_value> sources;
  uint64_t per_batch = 0, stride = 0, max_batches = 0, max_ms = 0;
  Napi::TypedArrayOf<double> latencies;
  Status status = file->CheckWritable();
  if (status.ok()) status = PlanPackedRanges(info, *file, &all, &sources);
  if (status.ok()) status = PlanTrailer(info, *file, &all, &sources);
  if (status.ok()) status = ToOffset(info[5], "rangesPerBatch", &per_batch);
  if (status.ok()) status = ToOffset(info[6], "trailerStride", &stride);
  if (status.ok()) status = ToOffset(info[7], "maxBatches", &max_batches);
  if (status.ok()) status = ToOffset(info[8], "maxMs", &max_ms);
  if (status.ok() && (per_batch == 0 || all.ranges.empty() || all.ranges.size() % per_batch != 0)) {
    status = Fail(code::kInvalidArgument, "rangesPerBatch must divide the plan's " + std::to_string(all.ranges.size()) +
                                              " ranges into whole batches");
  }
  if (status.ok() && all.has_trailer) status = file->CheckRange(all.trailer.offset + stride, all.trailer.length);
  if (status.ok() && !info[9].IsUndefined() && !info[9].IsNull()) {
    status = ToFloat64Array(info[9], "latencies", &latencies);
    if (status.ok() && latencies.ElementLength() < max_batches) {
      status = Fail(code::kInvalidArgument, "latencies must hold maxBatches numbers");
    }
  }
  ThrowIfFailed(env, status);

  std::vector<WritePlan> batches(all.ranges.size() / per_batch);
  for (size_t k = 0; k < batches.size(); ++k) {
    batches[k].ranges.assign(all.ranges.begin() + k * per_batch, all.ranges.begin() + (k + 1) * per_batch);
    batches[k].has_trailer = all.has_trailer;
    batches[k].trailer = all.trailer;
    batches[k].trailer.offset += (k % 2) * stride;
    batches[k].deep = all.deep;
  }
  double* latency = latencies.IsEmpty() ? nullptr : latencies.Data();
  const uint64_t started = MonotonicNs();
  const uint64_t deadline = started + max_ms * 1000000;
  uint64_t done = 0;
  for (; done < max_batches; ++done) {
    const uint64_t t0 = MonotonicNs();
    if (t0 >= deadline) break;
    ThrowIfFailed(env, file->WriteBatch(batches[done % batches.size()]));
    if (latency != nullptr) latency[done] = static_cast<double>(MonotonicNs() - t0);
  }
  const double ns = static_cast<double>(MonotonicNs() - started);
  Napi::Object out = Napi::Object::New(env);
  out.Set("batches", Napi::Number::New(env, static_cast<double>(done)));
  out.Set("ns", Napi::Number::New(env, ns));
  return out;
}

}  // namespace rpmem
