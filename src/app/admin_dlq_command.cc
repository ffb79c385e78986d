// CLI of `holdfast admin dlq list|resend` (rendering AdminClient::dlq_list / dlq_resend).
#include <cstdio>

#include "app/admin_client.h"
#include "app/admin_command.h"
#include "app/admin_format.h"

namespace holdfast::admin {

namespace {

using Options = std::shared_ptr<AdminCliOptions>;

std::string format_dlq(const std::vector<DlqMessage>& messages) {
  std::vector<std::vector<std::string>> table = {{"#Message ID", "#Offset ID", "#Original Topic", "#Origin Message ID",
                                                  "#Reconsume", "#Store Time", "#Resent"}};
  for (const DlqMessage& d : messages) {
    table.push_back({d.message.msg_id, d.message.offset_msg_id, d.original_topic.empty() ? "-" : d.original_topic,
                     d.origin_msg_id.empty() ? "-" : d.origin_msg_id, std::to_string(d.message.reconsume_times),
                     format_timestamp_ms(d.message.store_timestamp_ms), std::to_string(d.resent)});
  }
  return format_table(table);
}

}  // namespace

void add_dlq_commands(CLI::App* admin, const Options& options) {
  CLI::App* dlq = admin->add_subcommand("dlq", "Dead-letter queues: list a group's, resend messages to the group");
  dlq->require_subcommand(1);
  dlq->fallthrough();

  auto list_group = std::make_shared<std::string>();
  CLI::App* list = dlq->add_subcommand("list", "Messages in %DLQ%<group>: original topic, ids, reconsume times, "
                                               "how often each was resent");
  add_connection_options(list, options);
  list->add_option("-g,--group", *list_group, "Consumer group")->required();
  list->callback([options, list_group]() {
    AdminClient client = make_client(*options);
    auto messages = client.dlq_list(*list_group);
    if (!messages.is_ok()) {
      options->exit_code = report_error("dlq list", messages.status().message());
      return;
    }
    std::fputs(format_dlq(*messages).c_str(), stdout);
    std::fprintf(stdout, "%zu message(s) in %%DLQ%%%s\n", messages->size(), list_group->c_str());
    std::fflush(stdout);
    options->exit_code = 0;
  });

  auto resend_group = std::make_shared<std::string>();
  auto resend_id = std::make_shared<std::string>();
  auto resend_all = std::make_shared<bool>(false);
  CLI::App* resend = dlq->add_subcommand(
      "resend", "Put DLQ messages back into %RETRY%<group> with reconsume times reset to 0, so the group "
                "consumes them again with a full set of retries (the DLQ copy stays)");
  add_connection_options(resend, options);
  resend->add_option("-g,--group", *resend_group, "Consumer group")->required();
  auto* id_option = resend->add_option("-i,--msg-id", *resend_id, "One message, by message id (UNIQ_KEY) or offset id");
  auto* all_option = resend->add_flag("--all", *resend_all, "Every message of the dead-letter queue");
  id_option->excludes(all_option);
  resend->callback([options, resend_group, resend_id, resend_all]() {
    if (resend_id->empty() && !*resend_all) {
      options->exit_code = report_error("dlq resend", "pass --msg-id ID or --all");
      return;
    }
    AdminClient client = make_client(*options);
    auto done = client.dlq_resend(*resend_group, *resend_all ? "" : *resend_id);
    if (!done.is_ok()) {
      options->exit_code = report_error("dlq resend", done.status().message());
      return;
    }
    for (const DlqResend& r : *done) {
      std::printf("resent %s (msgId %s, topic %s, reconsumed %d times) to %%RETRY%%%s as %s%s\n",
                  r.source.message.offset_msg_id.c_str(), r.source.message.msg_id.c_str(),
                  r.source.original_topic.empty() ? "-" : r.source.original_topic.c_str(),
                  r.source.message.reconsume_times, resend_group->c_str(), r.new_offset_msg_id.c_str(),
                  r.source.resent > 0 ? (" (resent " + std::to_string(r.source.resent) + " time(s) before)").c_str()
                                      : "");
    }
    std::fflush(stdout);
    options->exit_code = 0;
  });
}

}  // namespace holdfast::admin
