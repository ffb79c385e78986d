// Helpers shared by the remoting unit tests: hex golden bytes and sample commands.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "remoting/remoting_command.h"

namespace holdfast::remoting::testing {

// "00 0A 'to'" style: hex byte pairs, with 'quoted text' copied verbatim; spaces ignored.
inline std::string bytes(std::string_view spec) {
  std::string out;
  for (size_t i = 0; i < spec.size();) {
    char c = spec[i];
    if (c == ' ' || c == '|' || c == '\n') {
      ++i;
    } else if (c == '\'') {
      size_t end = spec.find('\'', i + 1);
      out.append(spec.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      auto nibble = [](char h) { return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10; };
      out.push_back(static_cast<char>((nibble(spec[i]) << 4) | nibble(spec[i + 1])));
      i += 2;
    }
  }
  return out;
}

inline std::string hex(std::string_view s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof(buf), "%02X ", c);
    out += buf;
  }
  return out;
}

// A SEND_MESSAGE_V2 request as the Java client sends it.
inline RemotingCommand sample_send_v2() {
  RemotingCommand cmd;
  cmd.code = 310;
  cmd.language = LanguageCode::kJava;
  cmd.version = 409;
  cmd.opaque = 42;
  cmd.set_ext("a", "please_rename_unique_group_name");
  cmd.set_ext("b", "TopicTest");
  cmd.set_ext("c", "TBW102");
  cmd.set_ext("d", "4");
  cmd.set_ext("e", "3");
  cmd.set_ext("f", "0");
  cmd.set_ext("g", "1700000000123");
  cmd.set_ext("h", "0");
  cmd.set_ext("i", std::string("UNIQ_KEY\x01" "7F00000100002A9F0000000000000001\x02WAIT\x01true\x02TAGS\x01TagA\x02"));
  cmd.set_ext("j", "0");
  cmd.set_ext("k", "false");
  cmd.set_ext("m", "false");
  cmd.set_ext("n", "broker-a");
  cmd.body = "Hello RocketMQ";
  return cmd;
}

}  // namespace holdfast::remoting::testing
