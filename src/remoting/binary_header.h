// The ROCKETMQ binary header format (serialize type 1, facts §1.2): compact, but only Java and Go
// clients read it, and it cannot carry a code or version outside int16.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "remoting/remoting_command.h"

namespace holdfast::remoting {

// Decodes a binary header into the header fields of *out (`body` is left alone). Layout:
// int16 code, uint8 language, int16 version, int32 opaque, int32 flag, int32 remark length +
// bytes (0 = null), int32 extFields length m + m bytes of [int16 keyLen][key][int32 valLen][val].
// Every length is checked against the bytes that remain: a negative length, a length past the
// end, an entry that straddles the end of the extFields block, or bytes left over after the
// extFields block are Corruption errors naming the field and offset. Unknown language bytes
// become OTHER; duplicate keys keep the last value. After an error *out holds a partial result.
Status decode_binary_header(std::string_view header, RemotingCommand* out);

// Appends the binary header. Fails (InvalidArgument) when the command cannot be represented:
// code or version outside int16, a key longer than 32767 bytes, or a remark / extFields block
// of 2 GiB or more. An empty remark is written as length 0, which the peer reads back as null.
Status encode_binary_header(const RemotingCommand& cmd, std::string* out);

}  // namespace holdfast::remoting
