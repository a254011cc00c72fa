/*
 * errors.h -- the outcome of a native operation as plain data
 *
 * Worker threads must not touch Napi, so failures travel as a Status and become a JS Error
 * (`message`, `code`, `errno`) only on the JS thread; src/storage/native.ts turns that into an
 * RpmemError.
 */
#ifndef RPMEM_NATIVE_ERRORS_H
#define RPMEM_NATIVE_ERRORS_H

#include <napi.h>

#include <string>

namespace rpmem {

/* The subset of ErrorCode (src/storage/errors.ts) the native layer raises; the strings must match. */
namespace code {
constexpr const char* kInvalidArgument = "RPMEM_E_INVALID_ARGUMENT";
constexpr const char* kOutOfRange = "RPMEM_E_OUT_OF_RANGE";
constexpr const char* kNoPool = "RPMEM_E_NO_POOL";
constexpr const char* kExists = "RPMEM_E_EXISTS";
constexpr const char* kBusy = "RPMEM_E_BUSY";
constexpr const char* kLimit = "RPMEM_E_LIMIT";
constexpr const char* kIo = "RPMEM_E_IO";
constexpr const char* kClosed = "RPMEM_E_CLOSED";
constexpr const char* kFailed = "RPMEM_E_FAILED";
constexpr const char* kInternal = "RPMEM_E_INTERNAL";
}  // namespace code

struct Status {
  const char* code = nullptr; /* null means success */
  int err = 0;                /* the OS errno behind the failure, 0 if none */
  std::string message;

  /* ok -- whether the operation succeeded */
  bool ok() const { return code == nullptr; }
};

/* Fail -- a failed Status without an OS error */
Status Fail(const char* code, std::string message);

/* FailErrno -- a failed Status for an OS error; the message ends with the errno's description */
Status FailErrno(const char* code, int err, const std::string& what);

/* ToJsError -- the JS Error for a failed Status, carrying `code` and `errno` properties */
Napi::Error ToJsError(Napi::Env env, const Status& status);

/* ThrowIfFailed -- throws the Status as a JS exception unless it is a success */
void ThrowIfFailed(Napi::Env env, const Status& status);

}  // namespace rpmem

#endif
