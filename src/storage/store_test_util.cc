// Helpers shared by storage tests.
#include "storage/store_test_util.h"

#include <gtest/gtest.h>

namespace holdfast::testing_util {

StoreOptions small_options(const std::string& root) {
  StoreOptions o;
  o.root_dir = root;
  o.max_message_size = 16 * 1024;
  o.commit_log_segment_size = 128 * 1024;
  o.consume_queue_units_per_file = 64;
  o.index.hash_slot_count = 97;
  o.index.max_index_count = 400;
  o.sync_flush_timeout_ms = 5000;
  o.checkpoint_interval_ms = 50;
  o.clean_resource_interval_ms = 3600 * 1000;  // tests call run_housekeeping_once()
  o.warm_segments = false;
  return o;
}

MessageToStore make_message(const std::string& topic, int32_t queue_id, const std::string& body,
                            const std::string& keys, const std::string& tags, bool wait) {
  MessageToStore m;
  m.topic = topic;
  m.queue_id = queue_id;
  m.born_timestamp = 1700000000000;
  m.born_host = HostAddress::ipv4(127, 0, 0, 1, 40000);
  m.store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
  m.body = body;
  if (!tags.empty()) append_property(&m.properties, "TAGS", tags);
  if (!keys.empty()) append_property(&m.properties, "KEYS", keys);
  if (!wait) append_property(&m.properties, "WAIT", "false");
  return m;
}

RecordView view_of(const std::string& record) {
  RecordView v;
  DecodeResult d = decode_record(record.data(), record.size(), true, &v);
  EXPECT_EQ(d.outcome, DecodeOutcome::kRecord) << d.reason;
  return v;
}

}  // namespace holdfast::testing_util
