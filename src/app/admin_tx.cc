// `holdfast admin tx list|show|resolve`: pending transactions per producer group, and ending one by
// hand when its producer group is gone for good.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/admin_client.h"
#include "app/admin_command.h"
#include "app/admin_format.h"
#include "remoting/request_code.h"

namespace holdfast::admin {

namespace req = remoting::request_code;
using remoting::RemotingCommand;

Result<std::vector<TransactionInfo>> AdminClient::tx_list(const std::string& group) {
  HF_ASSIGN_OR_RETURN(auto list, masters(""));
  std::vector<TransactionInfo> out;
  for (auto& [name, addr] : list) {
    RemotingCommand r = RemotingCommand::make_request(req::kHoldfastTransactionList);
    if (!group.empty()) r.set_ext("producerGroup", group);
    HF_ASSIGN_OR_RETURN(RemotingCommand response, call_broker(addr, std::move(r), "list transactions"));
    nlohmann::json doc = nlohmann::json::parse(response.body, nullptr, false);
    if (!doc.is_object()) return Status::corruption("broker " + addr + " sent an unreadable transaction list");
    for (const char* section : {"pending", "checkMax"}) {
      if (!doc.contains(section) || !doc[section].is_array()) continue;
      for (const auto& e : doc[section]) {
        TransactionInfo t;
        t.broker_name = name;
        t.broker_addr = addr;
        t.check_max = std::string(section) == "checkMax";
        t.transaction_id = e.value("transactionId", "");
        t.producer_group = e.value("producerGroup", "");
        t.topic = e.value("topic", "");
        t.queue_id = e.value("queueId", 0);
        t.table_offset = e.value("tranStateTableOffset", int64_t{0});
        t.commit_log_offset = e.value("commitLogOffset", int64_t{0});
        t.born_ms = e.value("bornTimestamp", int64_t{0});
        t.check_times = e.value("checkTimes", 0);
        t.immunity_ms = e.value("immunityMillis", int64_t{0});
        t.committed = e.value("committed", false);
        out.push_back(std::move(t));
      }
    }
  }
  return out;
}

Result<TransactionInfo> AdminClient::tx_resolve(const std::string& transaction_id, bool commit) {
  if (transaction_id.empty()) return Status::invalid_argument("the transaction id is empty");
  HF_ASSIGN_OR_RETURN(auto all, tx_list(""));
  const TransactionInfo* found = nullptr;
  for (const TransactionInfo& t : all) {
    if (t.transaction_id != transaction_id) continue;
    if (!t.check_max) {
      found = &t;  // a pending half wins over an older check-max copy
      break;
    }
    if (found == nullptr) found = &t;
  }
  if (found == nullptr) {
    return Status::not_found("no pending transaction " + transaction_id +
                             " (and none in TRANS_CHECK_MAX_TIME_TOPIC): it has ended or never existed");
  }
  if (found->check_max && found->committed) {
    return Status::invalid_argument("transaction " + transaction_id + " was already committed; nothing changed");
  }
  RemotingCommand r = RemotingCommand::make_request(req::kEndTransaction);
  r.set_ext("producerGroup", found->producer_group);
  r.set_ext("topic", found->topic);
  r.set_ext_int("tranStateTableOffset", found->table_offset);
  r.set_ext_int("commitLogOffset", found->commit_log_offset);
  r.set_ext_int("commitOrRollback", commit ? 8 : 12);
  r.set_ext_bool("fromTransactionCheck", true);
  r.set_ext("msgId", transaction_id);
  r.set_ext("transactionId", transaction_id);
  r.set_ext_bool("holdfastAdmin", true);
  HF_RETURN_IF_ERROR(call_broker(found->broker_addr, std::move(r),
                                 std::string(commit ? "commit" : "roll back") + " transaction " + transaction_id)
                         .status());
  return *found;
}

namespace {

using Options = std::shared_ptr<AdminCliOptions>;

std::string format_age(int64_t born_ms) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t age = (now - born_ms) / 1000;
  if (age < 120) return std::to_string(age) + " s";
  if (age < 7200) return std::to_string(age / 60) + " min";
  return std::to_string(age / 3600) + " h";
}

std::string format_transactions(const std::vector<TransactionInfo>& list) {
  std::vector<std::vector<std::string>> table = {
      {"#Transaction ID", "#Producer Group", "#Topic", "#State", "#Age", "#Checks", "#Broker"}};
  for (const TransactionInfo& t : list) {
    std::string state = t.check_max ? (t.committed ? "TRANS_CHECK_MAX_TIME_TOPIC (committed by hand)"
                                                   : "TRANS_CHECK_MAX_TIME_TOPIC")
                                    : "pending";
    table.push_back({t.transaction_id, t.producer_group, t.topic, state, format_age(t.born_ms),
                     std::to_string(t.check_times), t.broker_name});
  }
  return format_table(table);
}

}  // namespace

void add_tx_commands(CLI::App* admin, const Options& options) {
  CLI::App* tx = admin->add_subcommand("tx", "Transactional messages: list pending ones, show one, end one by hand");
  tx->require_subcommand(1);
  tx->fallthrough();

  auto list_group = std::make_shared<std::string>();
  CLI::App* list = tx->add_subcommand("list", "Half messages without an end (per producer group, with age and "
                                              "check count), and those moved to TRANS_CHECK_MAX_TIME_TOPIC");
  add_connection_options(list, options);
  list->add_option("-g,--group", *list_group, "Only this producer group");
  list->callback([options, list_group]() {
    AdminClient client = make_client(*options);
    auto all = client.tx_list(*list_group);
    if (!all.is_ok()) {
      options->exit_code = report_error("tx list", all.status().message());
      return;
    }
    size_t pending = 0;
    for (const auto& t : *all) pending += t.check_max ? 0 : 1;
    std::fputs(format_transactions(*all).c_str(), stdout);
    std::fprintf(stdout, "%zu pending, %zu in TRANS_CHECK_MAX_TIME_TOPIC\n", pending, all->size() - pending);
    std::fflush(stdout);
    options->exit_code = 0;
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = tx->add_subcommand("show", "One transaction: group, topic, offsets, age, checks");
  add_connection_options(show, options);
  show->add_option("-i,--id", *show_id, "Transaction id (the message's UNIQ_KEY)")->required();
  show->callback([options, show_id]() {
    AdminClient client = make_client(*options);
    auto all = client.tx_list("");
    if (!all.is_ok()) {
      options->exit_code = report_error("tx show", all.status().message());
      return;
    }
    bool any = false;
    for (const TransactionInfo& t : *all) {
      if (t.transaction_id != *show_id) continue;
      any = true;
      std::fprintf(stdout,
                   "Transaction ID:       %s\nState:                %s\nProducer Group:       %s\n"
                   "Topic:                %s (queue %d)\nBroker:               %s (%s)\n"
                   "tranStateTableOffset: %lld\ncommitLogOffset:      %lld\nBorn:                 %s (%s ago)\n"
                   "Checks:               %d\nImmunity:             %lld ms\n",
                   t.transaction_id.c_str(),
                   t.check_max ? (t.committed ? "in TRANS_CHECK_MAX_TIME_TOPIC, committed by hand"
                                              : "in TRANS_CHECK_MAX_TIME_TOPIC")
                               : "pending",
                   t.producer_group.c_str(), t.topic.c_str(), t.queue_id, t.broker_name.c_str(),
                   t.broker_addr.c_str(), static_cast<long long>(t.table_offset),
                   static_cast<long long>(t.commit_log_offset), format_timestamp_ms(t.born_ms).c_str(),
                   format_age(t.born_ms).c_str(), t.check_times, static_cast<long long>(t.immunity_ms));
    }
    std::fflush(stdout);
    options->exit_code = any ? 0 : report_error("tx show", "no pending transaction " + *show_id +
                                                              " (and none in TRANS_CHECK_MAX_TIME_TOPIC)");
  });

  auto resolve_id = std::make_shared<std::string>();
  auto commit = std::make_shared<bool>(false);
  auto rollback = std::make_shared<bool>(false);
  CLI::App* resolve = tx->add_subcommand(
      "resolve", "End one transaction by hand: --commit delivers the message to its topic, --rollback drops it");
  add_connection_options(resolve, options);
  resolve->add_option("-i,--id", *resolve_id, "Transaction id (the message's UNIQ_KEY)")->required();
  auto* c = resolve->add_flag("--commit", *commit, "Deliver the message");
  auto* r = resolve->add_flag("--rollback", *rollback, "Drop the message");
  c->excludes(r);
  resolve->callback([options, resolve_id, commit, rollback]() {
    if (*commit == *rollback) {
      options->exit_code = report_error("tx resolve", "give exactly one of --commit and --rollback");
      return;
    }
    AdminClient client = make_client(*options);
    auto done = client.tx_resolve(*resolve_id, *commit);
    if (!done.is_ok()) {
      options->exit_code = report_error("tx resolve", done.status().message());
      return;
    }
    std::fprintf(stdout, "%s transaction %s of group %s (topic %s) on broker %s\n",
                 *commit ? "Committed" : "Rolled back", resolve_id->c_str(), done->producer_group.c_str(),
                 done->topic.c_str(), done->broker_name.c_str());
    std::fflush(stdout);
    options->exit_code = 0;
  });
}

}  // namespace holdfast::admin
