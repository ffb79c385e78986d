// Stored records -> ReceivedMessage for `admin message get|query`, with the client's decoder
// (the same one PullConsumer uses, so both show a message identically).
#include "app/admin_client.h"
#include "client/message_codec.h"
#include "storage/message.h"

namespace holdfast::admin {

Result<std::vector<ReceivedMessage>> decode_messages(std::string_view body, const std::string& broker_name) {
  std::vector<ReceivedMessage> out;
  size_t pos = 0;
  while (pos < body.size()) {
    RecordView v;
    DecodeResult r = decode_record(body.data() + pos, body.size() - pos, /*check_crc=*/false, &v);
    if (r.outcome != DecodeOutcome::kRecord) {
      return Status::corruption("damaged message record at byte " + std::to_string(pos) + " of the response" +
                                (r.reason.empty() ? "" : ": " + r.reason));
    }
    pos += static_cast<size_t>(r.size);
    HF_ASSIGN_OR_RETURN(ReceivedMessage m, client::to_received_message(v, broker_name));
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace holdfast::admin
