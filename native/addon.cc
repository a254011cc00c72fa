/*
 * addon.cc -- the rpmem_native module: PoolMapping, crc32c and cpuFeatures
 */
#include <napi.h>

#include <cmath>

#include "cpu_features.h"
#include "crc32c.h"
#include "errors.h"
#include "pool_mapping.h"
#include "recording.h"

namespace rpmem {

namespace {

/* JsCrc32c -- crc32c(data, initial = 0): the CRC32C of data, continuing from initial */
Napi::Value JsCrc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) ThrowIfFailed(env, Fail(code::kInvalidArgument, "data must be a Buffer"));
  double initial = 0;
  if (!info[1].IsUndefined()) {
    initial = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    if (!(initial >= 0 && initial <= 4294967295.0 && std::trunc(initial) == initial)) {
      ThrowIfFailed(env, Fail(code::kInvalidArgument, "initial must be an unsigned 32-bit integer"));
    }
  }
  Napi::Buffer<uint8_t> data = info[0].As<Napi::Buffer<uint8_t>>();
  return Napi::Number::New(env, Crc32c(static_cast<uint32_t>(initial), data.Data(), data.Length()));
}

/* JsCpuFeatures -- cpuFeatures(): {clwb, clflushopt, sse42} */
Napi::Value JsCpuFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& cpu = DetectedCpuFeatures();
  Napi::Object features = Napi::Object::New(env);
  features.Set("clwb", cpu.clwb);
  features.Set("clflushopt", cpu.clflushopt);
  features.Set("sse42", cpu.sse42);
  return features;
}

/* JsRecordingMark -- recordingMark(): a number in the recorded events' order, placing a JS step between them */
Napi::Value JsRecordingMark(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(NextRecordedOrder()));
}

}  // namespace

}  // namespace rpmem

/* Init -- the module's exports (global scope: NODE_API_MODULE pastes the name into an identifier) */
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("PoolMapping", rpmem::PoolMapping::Define(env));
  exports.Set("crc32c", Napi::Function::New<rpmem::JsCrc32c>(env, "crc32c"));
  exports.Set("cpuFeatures", Napi::Function::New<rpmem::JsCpuFeatures>(env, "cpuFeatures"));
  exports.Set("recordingMark", Napi::Function::New<rpmem::JsRecordingMark>(env, "recordingMark"));
  return exports;
}

NODE_API_MODULE(rpmem_native, Init)
