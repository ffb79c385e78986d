// JsonScanner: the cursor the JSON header decoder is built from (strings with every escape,
// numbers, literals, skipping any value). Internal to src/remoting; not a general JSON library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace holdfast::remoting {

// Deepest nesting skip_value() accepts; deeper input is an error, not a stack overflow.
inline constexpr int kJsonMaxSkipDepth = 256;

// Cursor over one JSON text. Every parse method either advances past a complete token or returns
// a Corruption naming the byte offset where the input stopped making sense. Views returned by
// parse_string point into the input or into the caller's scratch string.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool at_end() const { return p_ >= end_; }
  // The next character, or '\0' at the end (never a valid token start here).
  char peek() const { return p_ < end_ ? *p_ : '\0'; }
  void advance() { ++p_; }

  // A Corruption "malformed JSON header at offset N: <what>" for the cursor position.
  Status error(const char* what) const;
  // Skips whitespace, then consumes `c` or fails with `what`.
  Status expect(char c, const char* what);
  // Parses a string literal (cursor at the opening quote). The common no-escape case returns a
  // view into the input without copying; otherwise the decoded text goes to *scratch and the
  // view points there.
  Status parse_string(std::string_view* value, std::string* scratch);
  // Parses a string literal into a new owned string, cursor at the opening quote.
  Status parse_owned_string(std::string* out);
  // Validates a JSON number and returns its text.
  Status parse_number(std::string_view* token);
  // Matches a literal such as "true" at the cursor (a template so the length is a constant and
  // the comparison inlines).
  template <size_t N>
  bool consume_literal(const char (&lit)[N]) {
    constexpr size_t n = N - 1;
    if (static_cast<size_t>(end_ - p_) < n) return false;
    for (size_t i = 0; i < n; ++i) {
      if (p_[i] != lit[i]) return false;
    }
    p_ += n;
    return true;
  }
  // An int32 field: a JSON integer, or a string holding one.
  Status parse_int32(const char* field, int32_t* out);
  // Skips any JSON value, validating it. Iterative with an explicit stack so a deeply nested
  // unknown key cannot exhaust the call stack.
  Status skip_value();

 private:
  Status skip_key_colon(std::string* scratch);
  // Decodes escapes from the cursor (just past the raw prefix already in *out) to the closing
  // quote, appending to *out.
  Status parse_string_slow(std::string* out);
  Status parse_hex4(uint32_t* cp);

  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace holdfast::remoting
