// Route and cluster-info decoding (both JSON key forms) and the publish/subscribe queue lists.
#include "client/topic_route.h"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

namespace holdfast::client {
namespace {

using nlohmann::json;

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A JSON integer or a string holding one.
bool read_int(const json& v, int64_t* out) {
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
  }
  return false;
}

Status read_int32(const json& obj, const char* key, int32_t* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  int64_t v = 0;
  if (!read_int(*it, &v) || v < INT32_MIN || v > INT32_MAX) {
    return Status::corruption(std::string("route field '") + key + "' is not a 32-bit integer");
  }
  *out = static_cast<int32_t>(v);
  return Status::ok();
}

std::string read_string(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool read_bool(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return it->is_string() && it->get<std::string>() == "true";
}

Result<BrokerData> parse_broker(const json& b) {
  if (!b.is_object()) return Status::corruption("route brokerDatas entry is not an object");
  BrokerData d;
  d.cluster = read_string(b, "cluster");
  d.broker_name = read_string(b, "brokerName");
  d.zone_name = read_string(b, "zoneName");
  d.enable_acting_master = read_bool(b, "enableActingMaster");
  auto addrs = b.find("brokerAddrs");
  if (addrs != b.end() && addrs->is_object()) {
    for (auto it = addrs->begin(); it != addrs->end(); ++it) {
      int64_t id = 0;
      const std::string& key = it.key();
      auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
      if (ec != std::errc() || p != key.data() + key.size()) {
        return Status::corruption("route brokerAddrs key is not a broker id: '" + key + "'");
      }
      if (it->is_string()) d.broker_addrs[id] = it->get<std::string>();
    }
  }
  return d;
}

Result<json> parse_json(std::string_view text, const char* what) {
  json doc = json::parse(quote_bare_json_keys(text), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::corruption(std::string("malformed ") + what + " JSON");
  }
  return doc;
}

std::vector<QueueData> sorted_by_broker(std::vector<QueueData> q) {
  std::stable_sort(q.begin(), q.end(),
                   [](const QueueData& a, const QueueData& b) { return a.broker_name < b.broker_name; });
  return q;
}

}  // namespace

std::string BrokerData::master_address() const {
  auto it = broker_addrs.find(kMasterBrokerId);
  return it == broker_addrs.end() ? "" : it->second;
}

const BrokerData* TopicRouteData::find_broker(std::string_view broker_name) const {
  for (const auto& b : broker_datas) {
    if (b.broker_name == broker_name) return &b;
  }
  return nullptr;
}

std::string quote_bare_json_keys(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false;
  // True right after '{' or ',' inside an object: the next token is a key.
  std::vector<char> stack;  // '{' or '['
  bool expect_key = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < in.size()) {
        out.push_back(in[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (is_ws(c)) {
      out.push_back(c);
      continue;
    }
    if (expect_key && c != '"' && c != '}') {
      // A bare key: everything up to ':' (trimmed).
      size_t j = i;
      while (j < in.size() && in[j] != ':' && !is_ws(in[j])) ++j;
      out.push_back('"');
      out.append(in.substr(i, j - i));
      out.push_back('"');
      i = j - 1;
      expect_key = false;
      continue;
    }
    expect_key = false;
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
        stack.push_back('{');
        expect_key = true;
        break;
      case '[':
        stack.push_back('[');
        break;
      case '}':
      case ']':
        if (!stack.empty()) stack.pop_back();
        break;
      case ',':
        expect_key = !stack.empty() && stack.back() == '{';
        break;
      default:
        break;
    }
    out.push_back(c);
  }
  return out;
}

Result<TopicRouteData> decode_topic_route(std::string_view text) {
  HF_ASSIGN_OR_RETURN(json doc, parse_json(text, "topic route"));
  TopicRouteData route;
  route.order_topic_conf = read_string(doc, "orderTopicConf");
  auto queues = doc.find("queueDatas");
  if (queues != doc.end() && queues->is_array()) {
    for (const auto& q : *queues) {
      if (!q.is_object()) return Status::corruption("route queueDatas entry is not an object");
      QueueData d;
      d.broker_name = read_string(q, "brokerName");
      HF_RETURN_IF_ERROR(read_int32(q, "readQueueNums", &d.read_queue_nums));
      HF_RETURN_IF_ERROR(read_int32(q, "writeQueueNums", &d.write_queue_nums));
      HF_RETURN_IF_ERROR(read_int32(q, "perm", &d.perm));
      HF_RETURN_IF_ERROR(read_int32(q, "topicSysFlag", &d.topic_sys_flag));
      route.queue_datas.push_back(std::move(d));
    }
  }
  auto brokers = doc.find("brokerDatas");
  if (brokers != doc.end() && brokers->is_array()) {
    for (const auto& b : *brokers) {
      HF_ASSIGN_OR_RETURN(BrokerData d, parse_broker(b));
      route.broker_datas.push_back(std::move(d));
    }
  }
  return route;
}

Result<ClusterInfo> decode_cluster_info(std::string_view text) {
  HF_ASSIGN_OR_RETURN(json doc, parse_json(text, "cluster info"));
  ClusterInfo info;
  auto brokers = doc.find("brokerAddrTable");
  if (brokers != doc.end() && brokers->is_object()) {
    for (auto it = brokers->begin(); it != brokers->end(); ++it) {
      HF_ASSIGN_OR_RETURN(BrokerData d, parse_broker(it.value()));
      if (d.broker_name.empty()) d.broker_name = it.key();
      info.broker_addr_table[it.key()] = std::move(d);
    }
  }
  auto clusters = doc.find("clusterAddrTable");
  if (clusters != doc.end() && clusters->is_object()) {
    for (auto it = clusters->begin(); it != clusters->end(); ++it) {
      auto& names = info.cluster_addr_table[it.key()];
      if (!it->is_array()) continue;
      for (const auto& n : *it) {
        if (n.is_string()) names.push_back(n.get<std::string>());
      }
    }
  }
  return info;
}

std::vector<MessageQueue> publish_queues(const std::string& topic, const TopicRouteData& route) {
  std::vector<MessageQueue> out;
  if (!route.order_topic_conf.empty()) {
    // "brokerA:4;brokerB:4": the configured queue counts, in the given order.
    std::string_view conf = route.order_topic_conf;
    while (!conf.empty()) {
      const size_t semi = conf.find(';');
      std::string_view item = conf.substr(0, semi);
      conf = semi == std::string_view::npos ? std::string_view() : conf.substr(semi + 1);
      const size_t colon = item.find(':');
      if (colon == std::string_view::npos) continue;
      int32_t n = 0;
      std::string_view num = item.substr(colon + 1);
      std::from_chars(num.data(), num.data() + num.size(), n);
      for (int32_t i = 0; i < n; ++i) out.push_back({topic, std::string(item.substr(0, colon)), i});
    }
    return out;
  }
  for (const QueueData& q : sorted_by_broker(route.queue_datas)) {
    if ((q.perm & kPermWrite) == 0) continue;
    const BrokerData* b = route.find_broker(q.broker_name);
    if (b == nullptr || b->master_address().empty()) continue;
    for (int32_t i = 0; i < q.write_queue_nums; ++i) out.push_back({topic, q.broker_name, i});
  }
  return out;
}

std::vector<MessageQueue> subscribe_queues(const std::string& topic, const TopicRouteData& route) {
  std::vector<MessageQueue> out;
  for (const QueueData& q : sorted_by_broker(route.queue_datas)) {
    if ((q.perm & kPermRead) == 0) continue;
    for (int32_t i = 0; i < q.read_queue_nums; ++i) out.push_back({topic, q.broker_name, i});
  }
  return out;
}

}  // namespace holdfast::client
