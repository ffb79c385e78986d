// Outcome<T>: the value of a client call, or the error that replaced it. The client never drops a
// failure silently: every call returns an Outcome or hands one to its callback.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace holdfast {

enum class ErrorCode {
  kInvalidArgument,  // the caller's input is wrong (bad topic name, body too large, ...); not retried
  kTimeout,          // the send_msg_timeout budget (or a call's timeout) ran out
  kNoRoute,          // no name server knows the topic, or no writable queue exists
  kConnection,       // could not connect, or the connection broke with the request in flight
  kBroker,           // the broker answered with an error response code (see Error::response_code)
  kShutdown,         // the client was shut down
  kBusy,             // back-pressure: too many requests in flight (only when not waiting)
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kBroker;
  int response_code = 0;  // the RocketMQ response code for kBroker, else 0
  std::string message;    // readable: what failed, where, and the broker's remark
  // True for the errors a retry on another broker may cure (connection, timeout of one attempt,
  // SYSTEM_BUSY, SERVICE_NOT_AVAILABLE, TOPIC_NOT_EXIST, ...). Decided in one place.
  bool retryable = false;
  std::string to_string() const;
};

// A small expected-like type (C++20 has no std::expected).
template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : v_(std::move(value)) {}            // NOLINT: implicit on purpose
  Outcome(Error error) : v_(std::move(error)) {}        // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Outcome<void> {
 public:
  Outcome() = default;
  Outcome(Error error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace holdfast
