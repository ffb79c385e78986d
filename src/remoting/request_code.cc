// request_code_name, generated from the X-macro table in request_code.h (a duplicate code is a
// compile error: two equal case labels).
#include "remoting/request_code.h"

namespace holdfast::remoting {

const char* request_code_name(int32_t code) {
  switch (code) {
#define HF_REMOTING_NAME_CASE(constant, name, value) \
  case value:                                        \
    return name;
    HF_REMOTING_REQUEST_CODES(HF_REMOTING_NAME_CASE)
#undef HF_REMOTING_NAME_CASE
    default:
      return "UNKNOWN";
  }
}

}  // namespace holdfast::remoting
