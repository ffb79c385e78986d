// Text rendering of AdminClient results for `holdfast admin`: aligned tables in the spirit of
// mqadmin's output (columns prefixed with '#'), one function per subcommand.
#pragma once

#include <string>
#include <vector>

#include "app/admin_client.h"

namespace holdfast::admin {

// "2026-11-24 00:01:02,123" in local time; "-" for 0.
std::string format_timestamp_ms(int64_t ms);

std::string format_cluster_list(const std::vector<BrokerStatus>& rows);
std::string format_topic_stats(const std::vector<QueueStats>& queues);
std::string format_group_list(const std::vector<GroupInfo>& groups);
std::string format_group_stats(const GroupStats& stats);
// The full view of one message (mqadmin queryMsgById).
std::string format_message(const ReceivedMessage& msg);
// One line per message (mqadmin queryMsgByKey).
std::string format_message_list(const std::vector<ReceivedMessage>& messages);

// Left-aligned columns separated by two spaces; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace holdfast::admin
