/*
 * args.h -- checking JS arguments at the native boundary
 *
 * Each returns a Status rather than throwing, so async methods can reject with it.
 */
#ifndef RPMEM_NATIVE_ARGS_H
#define RPMEM_NATIVE_ARGS_H

#include <napi.h>

#include <cstdint>
#include <string>

#include "errors.h"

namespace rpmem {

/* An argument's name, "offsets" or "offsets[3]": spelled out only when a check fails. */
class ArgName {
 public:
  /* implicit, so call sites with a plain name read as they always did */
  ArgName(const char* base) : base_(base) {}
  ArgName(const char* base, uint32_t index) : base_(base), index_(index), indexed_(true) {}

  /* str -- the name for a message */
  std::string str() const;

 private:
  const char* base_;
  uint32_t index_ = 0;
  bool indexed_ = false;
};

/* ToOffset -- a JS number that must be a safe non-negative integer (negative is out of range) */
Status ToOffset(const Napi::Value& value, const ArgName& name, uint64_t* out);

/* ToBuffer -- a JS Buffer (or other Uint8Array) that must not be empty */
Status ToBuffer(const Napi::Value& value, const ArgName& name, Napi::Buffer<uint8_t>* out);

/* ToFlag -- a boolean, or undefined for false */
Status ToFlag(const Napi::Value& value, const char* name, bool* out);

}  // namespace rpmem

#endif
