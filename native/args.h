/*
 * args.h -- checking JS arguments at the native boundary
 *
 * Each returns a Status rather than throwing, so async methods can reject with it.
 */
#ifndef RPMEM_NATIVE_ARGS_H
#define RPMEM_NATIVE_ARGS_H

#include <napi.h>

#include <cstdint>

#include "errors.h"

namespace rpmem {

/* ToOffset -- a JS number that must be a safe non-negative integer (negative is out of range) */
Status ToOffset(const Napi::Value& value, const char* name, uint64_t* out);

/* ToBuffer -- a JS Buffer (or other Uint8Array) that must not be empty */
Status ToBuffer(const Napi::Value& value, const char* name, Napi::Buffer<uint8_t>* out);

/* ToFlag -- a boolean, or undefined for false */
Status ToFlag(const Napi::Value& value, const char* name, bool* out);

}  // namespace rpmem

#endif
