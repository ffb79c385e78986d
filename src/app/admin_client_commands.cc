// `holdfast admin send` and `holdfast admin consume`: try a topic from a shell with the C++
// client's Producer and PullConsumer (mqadmin sendMessage / consumeMessage).
#include <chrono>
#include <cstdio>
#include <thread>

#include "app/admin_client.h"
#include "app/admin_command.h"
#include "app/admin_format.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"

namespace holdfast::admin {

namespace {

using Options = std::shared_ptr<AdminCliOptions>;

struct SendArgs {
  std::string topic;
  std::string body;
  std::string tags;
  std::vector<std::string> keys;
  std::vector<std::string> properties;  // k=v
  int32_t delay_level = 0;
  int count = 1;
  std::string group = "HOLDFAST_ADMIN_PRODUCER";
};

int run_send(const Options& options, const SendArgs& args) {
  ProducerOptions producer_options;
  producer_options.group = args.group;
  producer_options.name_servers = split_name_servers(options->namesrv);
  producer_options.send_msg_timeout_ms = options->timeout_ms;
  auto started = Producer::start(producer_options);
  if (!started.ok()) return report_error("send", started.error().to_string());
  std::unique_ptr<Producer> producer = std::move(started).value();
  Message msg(args.topic, args.body, args.tags);
  msg.keys = args.keys;
  msg.delay_level = args.delay_level;
  for (const std::string& p : args.properties) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      producer->shutdown();
      return report_error("send", "--property wants key=value, got '" + p + "'");
    }
    msg.properties[p.substr(0, eq)] = p.substr(eq + 1);
  }
  int code = 0;
  for (int i = 0; i < args.count; ++i) {
    auto result = producer->send(msg);
    if (!result.ok()) {
      code = report_error("send", result.error().to_string());
      break;
    }
    std::printf("%s msgId=%s offsetMsgId=%s queue=%s queueOffset=%lld\n", send_status_name(result->status),
                result->msg_id.c_str(), result->offset_msg_id.c_str(), result->queue.to_string().c_str(),
                static_cast<long long>(result->queue_offset));
    std::fflush(stdout);
  }
  producer->shutdown();
  return code;
}

struct ConsumeArgs {
  std::string topic;
  std::string group = "HOLDFAST_ADMIN_CONSUMER";
  std::string subscription = "*";
  std::string from = "first";
  int count = 32;
  double wait_s = 3;
  bool commit = false;
  bool bodies_only = false;
};

int run_consume(const Options& options, const ConsumeArgs& args) {
  PullConsumerOptions consumer_options;
  consumer_options.group = args.group;
  consumer_options.name_servers = split_name_servers(options->namesrv);
  consumer_options.call_timeout_ms = options->timeout_ms;
  auto started = PullConsumer::start(consumer_options);
  if (!started.ok()) return report_error("consume", started.error().to_string());
  std::unique_ptr<PullConsumer> consumer = std::move(started).value();
  auto fail = [&](const std::string& message) {
    consumer->shutdown();
    return report_error("consume", message);
  };
  auto queues = consumer->queues_of(args.topic);
  if (!queues.ok()) return fail(queues.error().to_string());

  std::vector<int64_t> offsets;
  for (const MessageQueue& q : *queues) {
    Outcome<int64_t> start = args.from == "last" ? consumer->max_offset(q) : consumer->min_offset(q);
    if (args.from == "committed") {
      start = consumer->committed_offset(q);
      if (!start.ok() && start.error().code == ErrorCode::kBroker) start = consumer->min_offset(q);
    }
    if (!start.ok()) return fail(q.to_string() + ": " + start.error().to_string());
    offsets.push_back(*start);
  }
  // Round-robin over the queues until `count` messages or `wait_s` seconds with nothing new.
  int printed = 0;
  auto last_message = std::chrono::steady_clock::now();
  const auto wait = std::chrono::duration<double>(args.wait_s);
  while (printed < args.count && std::chrono::steady_clock::now() - last_message < wait) {
    bool any = false;
    for (size_t i = 0; i < queues->size() && printed < args.count; ++i) {
      const MessageQueue& q = (*queues)[i];
      auto result = consumer->pull(q, args.subscription, offsets[i], std::min(32, args.count - printed), 0);
      if (!result.ok()) return fail(q.to_string() + ": " + result.error().to_string());
      for (const ReceivedMessage& m : result->messages) {
        if (printed >= args.count) break;
        if (args.bodies_only) {
          std::printf("%s\n", m.body.c_str());
        } else {
          std::printf("%s%s", printed > 0 ? "\n" : "", format_message(m).c_str());
        }
        ++printed;
        offsets[i] = m.queue_offset + 1;
        any = true;
      }
      if (result->messages.empty()) offsets[i] = result->next_begin_offset;
      if (args.commit) {
        auto committed = consumer->commit_offset(q, offsets[i]);
        if (!committed.ok()) return fail("commit on " + q.to_string() + ": " + committed.error().to_string());
      }
    }
    std::fflush(stdout);
    if (any) {
      last_message = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  consumer->shutdown();
  std::fprintf(stderr, "%d message(s)%s\n", printed, args.commit ? ", offsets committed" : "");
  return 0;
}

}  // namespace

void add_client_commands(CLI::App* admin, const Options& options) {
  auto send_args = std::make_shared<SendArgs>();
  CLI::App* send = admin->add_subcommand("send", "Send a message with the C++ Producer (mqadmin sendMessage)");
  add_connection_options(send, options);
  send->add_option("-t,--topic", send_args->topic, "Topic")->required();
  send->add_option("-p,--body", send_args->body, "Message body")->required();
  send->add_option("-c,--tags", send_args->tags, "Tag");
  send->add_option("-k,--keys", send_args->keys, "Keys (repeatable)");
  send->add_option("--property", send_args->properties, "User property key=value (repeatable)");
  send->add_option("--delay-level", send_args->delay_level, "Delay level 1..18 (0 = none)")->check(CLI::Range(0, 18));
  send->add_option("--count", send_args->count, "Send the message this many times")->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  send->add_option("-g,--group", send_args->group, "Producer group")->capture_default_str();
  send->callback([options, send_args]() { options->exit_code = run_send(options, *send_args); });

  auto consume_args = std::make_shared<ConsumeArgs>();
  CLI::App* consume = admin->add_subcommand(
      "consume", "Print messages of a topic with the C++ PullConsumer (mqadmin consumeMessage)");
  add_connection_options(consume, options);
  consume->add_option("-t,--topic", consume_args->topic, "Topic")->required();
  consume->add_option("-g,--group", consume_args->group, "Consumer group")->capture_default_str();
  consume->add_option("-s,--subscription", consume_args->subscription, "Tag expression (\"*\" or \"A || B\")")
      ->capture_default_str();
  consume->add_option("--from", consume_args->from, "Start at the first, last or committed offset of each queue")
      ->check(CLI::IsMember({"first", "last", "committed"}))
      ->capture_default_str();
  consume->add_option("--count", consume_args->count, "Print at most this many messages")->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  consume->add_option("--wait", consume_args->wait_s, "Stop after this many seconds without a new message")
      ->capture_default_str();
  consume->add_flag("--commit", consume_args->commit, "Commit the group's offsets after reading");
  consume->add_flag("--bodies", consume_args->bodies_only, "Print only the bodies, one per line");
  consume->callback([options, consume_args]() { options->exit_code = run_consume(options, *consume_args); });
}

}  // namespace holdfast::admin
