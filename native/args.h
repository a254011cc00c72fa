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
  ArgName(const char* base, uint64_t index) : base_(base), index_(index), indexed_(true) {}

  /* str -- the name for a message */
  std::string str() const;

 private:
  const char* base_;
  uint64_t index_ = 0;
  bool indexed_ = false;
};

constexpr double kMaxSafeInteger = 9007199254740991.0; /* Number.MAX_SAFE_INTEGER */

/* IsOffset -- whether ToOffset accepts `number`: an integer from 0 to Number.MAX_SAFE_INTEGER (not NaN) */
inline bool IsOffset(double number) {
  return number >= 0 && number <= kMaxSafeInteger && static_cast<double>(static_cast<uint64_t>(number)) == number;
}

/* ToOffset -- a JS number that must be a safe non-negative integer (negative is out of range) */
Status ToOffset(const Napi::Value& value, const ArgName& name, uint64_t* out);
/* ToOffset -- the same check on a number already read, e.g. from a Float64Array */
Status ToOffset(double number, const ArgName& name, uint64_t* out);

/* ToBuffer -- a JS Buffer (or other Uint8Array) that must not be empty */
Status ToBuffer(const Napi::Value& value, const ArgName& name, Napi::Buffer<uint8_t>* out);

/* ToSource -- a JS Buffer (or other Uint8Array) that ranges are cut from; may be empty */
Status ToSource(const Napi::Value& value, const ArgName& name, Napi::Buffer<uint8_t>* out);

/* ToFloat64Array -- a Float64Array; any other typed array is refused, not converted */
Status ToFloat64Array(const Napi::Value& value, const ArgName& name, Napi::TypedArrayOf<double>* out);

/* ToFlag -- a boolean, or undefined for false */
Status ToFlag(const Napi::Value& value, const char* name, bool* out);

}  // namespace rpmem

#endif
