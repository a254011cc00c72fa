/*
 * errors.cc -- building failed Statuses and turning them into JS errors
 */
#include "errors.h"

#include <string.h>

#include <utility>

namespace rpmem {

/* Fail -- a failed Status without an OS error */
Status Fail(const char* code, std::string message) {
  return Status{code, 0, std::move(message)};
}

/* FailErrno -- a failed Status for an OS error; the message ends with the errno's description */
Status FailErrno(const char* code, int err, const std::string& what) {
  /* strerrordesc_np, unlike strerror, is safe on the worker threads that build most of these */
  const char* description = strerrordesc_np(err);
  std::string reason = description != nullptr ? description : "errno " + std::to_string(err);
  return Status{code, err, what + ": " + reason};
}

/* ToJsError -- the JS Error for a failed Status, carrying `code` and `errno` properties */
Napi::Error ToJsError(Napi::Env env, const Status& status) {
  Napi::Error error = Napi::Error::New(env, status.message);
  error.Value().Set("code", Napi::String::New(env, status.code));
  error.Value().Set("errno", Napi::Number::New(env, status.err));
  return error;
}

/* ThrowIfFailed -- throws the Status as a JS exception unless it is a success */
void ThrowIfFailed(Napi::Env env, const Status& status) {
  if (!status.ok()) throw ToJsError(env, status);
}

}  // namespace rpmem
