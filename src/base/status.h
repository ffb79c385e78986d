// Status and Result<T>: errors as values across subsystem boundaries (no exceptions in storage).
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "base/check.h"

namespace holdfast {

enum class StatusCode {
  kOk = 0,
  kNotFound,
  kCorruption,
  kInvalidArgument,
  kIOError,
  kNoSpace,        // disk full (ENOSPC or over the reject threshold); retryable
  kFenced,         // the store refused a write after an earlier write/fsync failure
  kTimeout,
  kBusy,
  kAborted,        // shut down / not running
  kAlreadyExists,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status not_found(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status corruption(std::string msg) { return Status(StatusCode::kCorruption, std::move(msg)); }
  static Status invalid_argument(std::string msg) { return Status(StatusCode::kInvalidArgument, std::move(msg)); }
  static Status io_error(std::string msg, int err = 0) { return Status(StatusCode::kIOError, std::move(msg), err); }
  static Status no_space(std::string msg, int err = 0) { return Status(StatusCode::kNoSpace, std::move(msg), err); }
  static Status fenced(std::string msg) { return Status(StatusCode::kFenced, std::move(msg)); }
  static Status timeout(std::string msg) { return Status(StatusCode::kTimeout, std::move(msg)); }
  static Status busy(std::string msg) { return Status(StatusCode::kBusy, std::move(msg)); }
  static Status aborted(std::string msg) { return Status(StatusCode::kAborted, std::move(msg)); }
  static Status already_exists(std::string msg) { return Status(StatusCode::kAlreadyExists, std::move(msg)); }
  // Maps an errno from a failed system call: ENOSPC/EDQUOT become kNoSpace, ENOENT kNotFound.
  static Status from_errno(const std::string& context, int err);

  Status(StatusCode code, std::string msg, int err = 0) : code_(code), errno_(err), message_(std::move(msg)) {}

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  int errno_ = 0;
  std::string message_;
};

// Result<T>: a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    HF_CHECK(!std::get<Status>(v_).is_ok(), "Result constructed from an OK status");
  }
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    HF_CHECK(is_ok(), "value() on error: ", std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  const T& value() const& {
    HF_CHECK(is_ok(), "value() on error: ", std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  T&& value() && {
    HF_CHECK(is_ok(), "value() on error: ", std::get<Status>(v_).to_string());
    return std::move(std::get<T>(v_));
  }
  // The value, or `fallback` on error (for callers where an error means "unknown, use 0").
  T value_or(T fallback) const& { return is_ok() ? std::get<T>(v_) : std::move(fallback); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace holdfast

#define HF_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::holdfast::Status _hf_st = (expr);        \
    if (!_hf_st.is_ok()) return _hf_st;        \
  } while (0)

#define HF_CONCAT_INNER(a, b) a##b
#define HF_CONCAT(a, b) HF_CONCAT_INNER(a, b)
#define HF_ASSIGN_OR_RETURN(lhs, expr) HF_ASSIGN_OR_RETURN_IMPL(HF_CONCAT(_hf_res_, __LINE__), lhs, expr)
#define HF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.is_ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
