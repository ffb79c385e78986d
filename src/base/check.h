// HF_CHECK: a broken invariant is a bug, not a Status. It logs where and aborts.
#pragma once

#include <sstream>
#include <string>

namespace holdfast::detail {

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);

template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace holdfast::detail

#define HF_CHECK(cond, ...)                                                                     \
  do {                                                                                          \
    if (!(cond)) [[unlikely]] {                                                                 \
      ::holdfast::detail::check_failed(__FILE__, __LINE__, #cond,                               \
                                       ::holdfast::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                                           \
  } while (0)
