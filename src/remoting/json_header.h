// The JSON header format (serialize type 0): what Java (fastjson), Go and C++ clients send, and
// what Holdfast answers in, since every client can parse it (facts §1.1, §1.2).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "remoting/remoting_command.h"

namespace holdfast::remoting {

// Decodes a JSON header into the header fields of *out (code, language, version, opaque, flag,
// remark, ext_fields; `body` is left alone). A hand-written scanner for exactly this object, no
// DOM:
//  - keys in any order; unknown keys are skipped, whatever their value (nesting up to 256);
//    "serializeTypeCurrentRPC" is skipped too;
//  - absent keys, and known keys whose value is null, leave the field at its default (0, JAVA,
//    null remark, no extFields);
//  - code/version/opaque/flag: JSON integers in int32 range (an integer in a string, "310", is
//    accepted as fastjson does);
//  - language: a name string ("JAVA", "CPP", "GO", ...; unknown names become OTHER) or a number;
//  - remark: a string (may be "") or null;
//  - extFields: an object (or null) whose values are strings, numbers (kept verbatim: 3 -> "3",
//    1.5e3 -> "1.5e3") or booleans ("true"/"false"); a null value drops the key; duplicate keys
//    keep the last value;
//  - strings: all JSON escapes including \uXXXX surrogate pairs (to UTF-8); a lone surrogate
//    becomes U+FFFD; raw control characters are rejected;
//  - whitespace (including a trailing newline) is allowed around tokens; anything else after the
//    object is an error.
// Errors are Corruption with the byte offset, e.g.
// "malformed JSON header at offset 12: expected ':' after object key". After an error *out
// holds a partial result: do not use it.
Status decode_json_header(std::string_view json, RemotingCommand* out);

// Appends the Java-style JSON header: keys in alphabetical order
// code, extFields (omitted when empty), flag, language, opaque, remark (omitted when null),
// serializeTypeCurrentRPC ("JSON"), version. extFields values are always JSON strings.
// Non-ASCII bytes are written as they are; '"', '\\' and control characters are escaped.
void encode_json_header(const RemotingCommand& cmd, std::string* out);

// Appends `s` as a JSON string literal (quotes included). Shared with code that writes JSON bodies.
void append_json_string(std::string_view s, std::string* out);

}  // namespace holdfast::remoting
