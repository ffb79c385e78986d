// PULL_MESSAGE handling and the hold service for long polling.
#include "broker/pull_message_processor.h"

#include <algorithm>

#include "base/hash.h"
#include "broker/put_status_mapping.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
using remoting::RemotingCommand;

std::vector<int64_t> subscription_tag_codes(std::string_view expr) {
  std::vector<int64_t> codes;
  size_t pos = 0;
  while (pos <= expr.size()) {
    size_t bar = expr.find("||", pos);
    if (bar == std::string_view::npos) bar = expr.size();
    std::string_view tag = expr.substr(pos, bar - pos);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag == "*") return {};
    if (!tag.empty()) codes.push_back(java_string_hash(tag));
    pos = bar + 2;
  }
  return codes;
}

PullMessageProcessor::PullMessageProcessor(MessageStore* store, CommitOffsetFn commit_offset, bool long_polling,
                                           int64_t short_polling_ms)
    : store_(store), commit_offset_(std::move(commit_offset)), long_polling_(long_polling),
      short_polling_ms_(short_polling_ms) {
  thread_ = std::thread([this] { hold_loop(); });
}

PullMessageProcessor::~PullMessageProcessor() { stop(); }

void PullMessageProcessor::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t PullMessageProcessor::held_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [k, v] : held_) n += v.size();
  return n;
}

void PullMessageProcessor::handle(const transport::ConnectionPtr& conn, RemotingCommand request,
                                  remoting::SerializeType type) {
  process(conn, std::move(request), type, /*allow_suspend=*/true);
}

void PullMessageProcessor::process(const transport::ConnectionPtr& conn, RemotingCommand request,
                                   remoting::SerializeType type, bool allow_suspend) {
  auto fail = [&](int32_t code, const std::string& remark) {
    conn->send_response(request.make_response(code, remark), type);
  };
  auto group = request.ext("consumerGroup");
  auto topic = request.ext("topic");
  auto queue_id = request.get_int32("queueId");
  auto offset = request.get_int64("queueOffset");
  auto max_nums = request.get_int32("maxMsgNums");
  auto sys_flag = request.get_int32("sysFlag");
  if (!group || !topic) {
    fail(rc::kSystemError, !group ? "missing header field 'consumerGroup'" : "missing header field 'topic'");
    return;
  }
  for (const Status* st : {&queue_id.status(), &offset.status(), &max_nums.status(), &sys_flag.status()}) {
    if (!st->is_ok()) {
      fail(rc::kSystemError, st->message());
      return;
    }
  }
  const std::string topic_name(*topic);
  const int32_t flags = *sys_flag;
  if (slave_serves_reads_ && !slave_serves_reads_()) {
    RemotingCommand resp = request.make_response(
        rc::kPullRetryImmediately, "this broker is a slave and slaveReadEnable is false while its master is up: pull "
                                   "from the master (brokerId 0)");
    resp.set_ext_int("suggestWhichBrokerId", 0);
    resp.set_ext_int("nextBeginOffset", *offset);
    resp.set_ext_int("minOffset", store_->min_offset_in_queue(topic_name, *queue_id));
    resp.set_ext_int("maxOffset", store_->max_offset_in_queue(topic_name, *queue_id));
    conn->send_response(resp, type);
    return;
  }
  if (allow_suspend && (flags & kPullFlagCommitOffset) && commit_offset_) {
    auto commit = request.get_int64("commitOffset");
    if (commit.is_ok() && *commit >= 0) commit_offset_(std::string(*group), topic_name, *queue_id, *commit);
  }
  std::vector<int64_t> codes;
  if (flags & kPullFlagSubscription) codes = subscription_tag_codes(request.ext("subscription").value_or("*"));
  std::function<bool(int64_t)> filter;
  if (!codes.empty()) {
    filter = [codes](int64_t tags_code) {
      return std::find(codes.begin(), codes.end(), static_cast<int64_t>(static_cast<int32_t>(tags_code))) != codes.end();
    };
  }
  GetResult got = store_->get_messages(topic_name, *queue_id, *offset, std::clamp(*max_nums, 1, 1024),
                                       256 * 1024, filter);
  if (pull_counter_) pull_counter_(std::string(*group), topic_name, static_cast<int64_t>(got.records.size()));
  const int32_t code = response_code_for(got.status, *offset);
  if (code == rc::kPullNotFound && allow_suspend && (flags & kPullFlagSuspend)) {
    int64_t hold_ms = short_polling_ms_;
    if (long_polling_) {
      auto suspend = request.get_int64("suspendTimeoutMillis");
      hold_ms = suspend.is_ok() ? std::clamp<int64_t>(*suspend, 0, 60000) : 15000;
    }
    Held h{conn, std::move(request), type, *offset,
           std::chrono::steady_clock::now() + std::chrono::milliseconds(hold_ms)};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stop_) {
        held_[{topic_name, *queue_id}].push_back(std::move(h));
        cv_.notify_all();
        return;
      }
    }
    process(h.conn, std::move(h.request), h.type, false);
    return;
  }
  RemotingCommand resp = request.make_response(code);
  resp.set_ext_int("suggestWhichBrokerId", 0);
  resp.set_ext_int("nextBeginOffset", got.next_begin_offset);
  resp.set_ext_int("minOffset", got.min_offset);
  resp.set_ext_int("maxOffset", got.max_offset);
  if (code != rc::kSuccess) resp.remark = std::string(get_status_name(got.status));
  for (auto& r : got.records) resp.body += r;
  conn->send_response(resp, type);
}

void PullMessageProcessor::on_arrival(const std::string& topic, int32_t queue_id, int64_t max_offset) {
  std::vector<Held> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find({topic, queue_id});
    if (it == held_.end()) return;
    auto& v = it->second;
    for (auto h = v.begin(); h != v.end();) {
      if (h->offset < max_offset) {
        ready.push_back(std::move(*h));
        h = v.erase(h);
      } else {
        ++h;
      }
    }
    if (v.empty()) held_.erase(it);
  }
  for (auto& h : ready) process(h.conn, std::move(h.request), h.type, false);
}

void PullMessageProcessor::hold_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    const auto now = std::chrono::steady_clock::now();
    std::vector<Held> due;
    for (auto it = held_.begin(); it != held_.end();) {
      auto& v = it->second;
      for (auto h = v.begin(); h != v.end();) {
        if (stop_ || h->deadline <= now || !h->conn->is_open()) {
          due.push_back(std::move(*h));
          h = v.erase(h);
        } else {
          ++h;
        }
      }
      it = v.empty() ? held_.erase(it) : std::next(it);
    }
    lock.unlock();
    // Re-run without suspension: answers with data if some arrived, else PULL_NOT_FOUND.
    for (auto& h : due) {
      if (h.conn->is_open()) process(h.conn, std::move(h.request), h.type, false);
    }
    lock.lock();
    if (stop_ && held_.empty()) return;
  }
}

}  // namespace holdfast::broker
