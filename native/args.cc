/*
 * args.cc -- checking JS arguments at the native boundary
 */
#include "args.h"

#include <cmath>
#include <string>

namespace rpmem {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0; /* Number.MAX_SAFE_INTEGER */

}  // namespace

/* str -- the name for a message */
std::string ArgName::str() const {
  if (!indexed_) return base_;
  return std::string(base_) + "[" + std::to_string(index_) + "]";
}

/* ToOffset -- a JS number that must be a safe non-negative integer (negative is out of range) */
Status ToOffset(const Napi::Value& value, const ArgName& name, uint64_t* out) {
  if (!value.IsNumber()) return Fail(code::kInvalidArgument, name.str() + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number) {
    return Fail(code::kInvalidArgument,
                name.str() + " must be an integer, got " + value.ToString().Utf8Value());
  }
  if (number < 0 || number > kMaxSafeInteger) {
    return Fail(code::kOutOfRange, name.str() + " " + value.ToString().Utf8Value() +
                                       " is out of range (0 to Number.MAX_SAFE_INTEGER)");
  }
  *out = static_cast<uint64_t>(number);
  return Status{};
}

/* ToBuffer -- a JS Buffer (or other Uint8Array) that must not be empty */
Status ToBuffer(const Napi::Value& value, const ArgName& name, Napi::Buffer<uint8_t>* out) {
  if (!value.IsBuffer()) return Fail(code::kInvalidArgument, name.str() + " must be a Buffer");
  *out = value.As<Napi::Buffer<uint8_t>>();
  if (out->Length() == 0) return Fail(code::kInvalidArgument, name.str() + " must not be empty");
  return Status{};
}

/* ToFlag -- a boolean, or undefined for false */
Status ToFlag(const Napi::Value& value, const char* name, bool* out) {
  if (value.IsUndefined()) {
    *out = false;
    return Status{};
  }
  if (!value.IsBoolean()) return Fail(code::kInvalidArgument, std::string(name) + " must be a boolean");
  *out = value.As<Napi::Boolean>().Value();
  return Status{};
}

}  // namespace rpmem
