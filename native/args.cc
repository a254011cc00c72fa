/*
 * args.cc -- checking JS arguments at the native boundary
 */
#include "args.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace rpmem {

namespace {

/* NumberText -- a number as JS would print it, near enough for a message (integers in full, NaN, Infinity) */
std::string NumberText(double number) {
  if (std::isnan(number)) return "NaN";
  if (std::isinf(number)) return number < 0 ? "-Infinity" : "Infinity";
  char text[32];
  std::snprintf(text, sizeof text, std::trunc(number) == number && std::fabs(number) < 1e21 ? "%.0f" : "%.17g", number);
  return text;
}

}  // namespace

/* str -- the name for a message */
std::string ArgName::str() const {
  if (!indexed_) return base_;
  return std::string(base_) + "[" + std::to_string(index_) + "]";
}

/* ToOffset -- a JS number that must be a safe non-negative integer (negative is out of range) */
Status ToOffset(const Napi::Value& value, const ArgName& name, uint64_t* out) {
  if (!value.IsNumber()) return Fail(code::kInvalidArgument, name.str() + " must be a number");
  return ToOffset(value.As<Napi::Number>().DoubleValue(), name, out);
}

/* ToOffset -- the same check on a number already read, e.g. from a Float64Array */
Status ToOffset(double number, const ArgName& name, uint64_t* out) {
  if (IsOffset(number)) {
    *out = static_cast<uint64_t>(number);
    return Status{};
  }
  if (!std::isfinite(number) || std::trunc(number) != number) {
    return Fail(code::kInvalidArgument, name.str() + " must be an integer, got " + NumberText(number));
  }
  return Fail(code::kOutOfRange,
              name.str() + " " + NumberText(number) + " is out of range (0 to Number.MAX_SAFE_INTEGER)");
}

/* ToBuffer -- a JS Buffer (or other Uint8Array) that must not be empty */
Status ToBuffer(const Napi::Value& value, const ArgName& name, Napi::Buffer<uint8_t>* out) {
  Status status = ToSource(value, name, out);
  if (status.ok() && out->Length() == 0) return Fail(code::kInvalidArgument, name.str() + " must not be empty");
  return status;
}

/* ToSource -- a JS Buffer (or other Uint8Array) that ranges are cut from; may be empty */
Status ToSource(const Napi::Value& value, const ArgName& name, Napi::Buffer<uint8_t>* out) {
  if (!value.IsBuffer()) return Fail(code::kInvalidArgument, name.str() + " must be a Buffer");
  *out = value.As<Napi::Buffer<uint8_t>>();
  return Status{};
}

/* ToFloat64Array -- a Float64Array; any other typed array is refused, not converted */
Status ToFloat64Array(const Napi::Value& value, const ArgName& name, Napi::TypedArrayOf<double>* out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    return Fail(code::kInvalidArgument, name.str() + " must be a Float64Array");
  }
  *out = value.As<Napi::TypedArrayOf<double>>();
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
