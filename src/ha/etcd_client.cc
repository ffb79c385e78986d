// EtcdClient over libcurl and etcd's JSON gateway (grpc-gateway: int64 fields travel as JSON
// strings, bytes fields as base64, a failed call answers {"error":..., "message":..., "code":N}).
#include "ha/etcd_client.h"

#include <curl/curl.h>

#include <array>
#include <charconv>
#include <utility>

#include <nlohmann/json.hpp>

namespace holdfast::ha {

namespace {

using Json = nlohmann::json;

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Byte -> 6-bit value, or -1 outside the alphabet.
constexpr std::array<int8_t, 256> make_base64_table() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr std::array<int8_t, 256> kBase64Table = make_base64_table();

// An answer larger than this is not something etcd sends these calls; stop reading it.
constexpr size_t kMaxAnswerBytes = 64u << 20;

std::once_flag g_curl_global_init;

size_t collect_body(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (out->size() + n > kMaxAnswerBytes) return 0;  // makes curl fail the transfer (CURLE_WRITE_ERROR)
  out->append(data, n);
  return n;
}

// The first JSON document of an answer. Streaming calls (lease keep-alive) answer one document
// per line; the others answer exactly one. A discarded value when it is not JSON.
Json parse_answer(const std::string& text) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_discarded()) return doc;
  const size_t eol = text.find('\n');
  if (eol == std::string::npos) return doc;
  return Json::parse(text.substr(0, eol), nullptr, /*allow_exceptions=*/false);
}

// etcd's message when doc is an error answer: {"error":"...","message":"...","code":N} for unary
// calls, {"error":{"grpc_code":N,"message":"...",...}} for streaming ones.
std::optional<std::string> etcd_error(const Json& doc) {
  if (!doc.is_object()) return std::nullopt;
  const auto it = doc.find("error");
  if (it == doc.end()) return std::nullopt;
  std::string message;
  if (const auto m = doc.find("message"); m != doc.end() && m->is_string()) {
    message = m->get<std::string>();
  } else if (it->is_string()) {
    message = it->get<std::string>();
  } else if (it->is_object()) {
    if (const auto m2 = it->find("message"); m2 != it->end() && m2->is_string()) message = m2->get<std::string>();
  }
  if (message.empty()) message = it->dump();
  return message;
}

// An int64 field, written by the gateway as a string (a number is accepted too); 0 when absent
// or unreadable.
int64_t int_field(const Json& j, const char* name) {
  if (!j.is_object()) return 0;
  const auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  return 0;
}

// A base64 bytes field, decoded; empty when absent (the gateway omits empty values).
Result<std::string> bytes_field(const Json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end()) return std::string();
  if (!it->is_string()) return Status::io_error(std::string("etcd: field '") + name + "' is not a string");
  return base64_decode(it->get<std::string>());
}

Result<Json> parse_ok_answer(const std::string& text) {
  Json doc = parse_answer(text);
  if (!doc.is_object()) return Status::io_error("etcd: unreadable answer");
  return doc;
}

// The range_end that selects every key starting with prefix: prefix with its last byte below 0xff
// incremented (trailing 0xff bytes dropped). "\0" (every key from `key` on) when there is none.
std::string prefix_range_end(std::string prefix) {
  while (!prefix.empty()) {
    const auto last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

const char* compare_target(EtcdCompare::Target t) {
  switch (t) {
    case EtcdCompare::Target::kVersion: return "VERSION";
    case EtcdCompare::Target::kCreateRevision: return "CREATE";
    case EtcdCompare::Target::kModRevision: return "MOD";
    case EtcdCompare::Target::kValue: return "VALUE";
  }
  return "MOD";
}

const char* compare_result(EtcdCompare::Result r) {
  switch (r) {
    case EtcdCompare::Result::kEqual: return "EQUAL";
    case EtcdCompare::Result::kGreater: return "GREATER";
    case EtcdCompare::Result::kLess: return "LESS";
    case EtcdCompare::Result::kNotEqual: return "NOT_EQUAL";
  }
  return "EQUAL";
}

Json compare_json(const EtcdCompare& c) {
  Json j{{"key", base64_encode(c.key)}, {"target", compare_target(c.target)}, {"result", compare_result(c.result)}};
  switch (c.target) {
    case EtcdCompare::Target::kVersion: j["version"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kCreateRevision: j["create_revision"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kModRevision: j["mod_revision"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kValue: j["value"] = base64_encode(c.value); break;
  }
  return j;
}

Json put_json(const std::string& key, const std::string& value, int64_t lease) {
  Json j{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) j["lease"] = std::to_string(lease);
  return j;
}

Json op_json(const EtcdOp& op) {
  if (op.kind == EtcdOp::Kind::kDelete) return Json{{"request_delete_range", Json{{"key", base64_encode(op.key)}}}};
  return Json{{"request_put", put_json(op.key, op.value, op.lease)}};
}

Result<EtcdKeyValue> kv_from_json(const Json& j) {
  if (!j.is_object()) return Status::io_error("etcd: malformed key-value in range answer");
  EtcdKeyValue kv;
  HF_ASSIGN_OR_RETURN(kv.key, bytes_field(j, "key"));
  HF_ASSIGN_OR_RETURN(kv.value, bytes_field(j, "value"));
  kv.create_revision = int_field(j, "create_revision");
  kv.mod_revision = int_field(j, "mod_revision");
  kv.version = int_field(j, "version");
  kv.lease = int_field(j, "lease");
  return kv;
}

Result<std::vector<EtcdKeyValue>> kvs_from_answer(const Json& doc) {
  std::vector<EtcdKeyValue> out;
  const auto it = doc.find("kvs");
  if (it == doc.end()) return out;
  if (!it->is_array()) return Status::io_error("etcd: malformed range answer");
  out.reserve(it->size());
  for (const auto& j : *it) {
    HF_ASSIGN_OR_RETURN(EtcdKeyValue kv, kv_from_json(j));
    out.push_back(std::move(kv));
  }
  return out;
}

}  // namespace

// ---- base64 ----

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  const auto byte = [&in](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(in[i])); };
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t group = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(kBase64Alphabet[(group >> 18) & 0x3f]);
    out.push_back(kBase64Alphabet[(group >> 12) & 0x3f]);
    out.push_back(kBase64Alphabet[(group >> 6) & 0x3f]);
    out.push_back(kBase64Alphabet[group & 0x3f]);
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t group = byte(i) << 16;
    if (rest == 2) group |= byte(i + 1) << 8;
    out.push_back(kBase64Alphabet[(group >> 18) & 0x3f]);
    out.push_back(kBase64Alphabet[(group >> 12) & 0x3f]);
    out.push_back(rest == 2 ? kBase64Alphabet[(group >> 6) & 0x3f] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::string> base64_decode(const std::string& in) {
  // Padding, when present, is one or two '=' closing a 4-character group; unpadded input is
  // accepted as long as its length is a possible one (not 1 mod 4).
  size_t data_len = in.size();
  size_t pad = 0;
  while (data_len > 0 && in[data_len - 1] == '=' && pad < 3) {
    --data_len;
    ++pad;
  }
  if (pad > 2) return Status::invalid_argument("base64: too much padding");
  if (pad > 0 && in.size() % 4 != 0) return Status::invalid_argument("base64: padding does not close a group");
  if (data_len % 4 == 1) return Status::invalid_argument("base64: truncated input");
  std::string out;
  out.reserve(data_len / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_len; ++i) {
    const int8_t v = kBase64Table[static_cast<unsigned char>(in[i])];
    if (v < 0) return Status::invalid_argument("base64: invalid character at offset " + std::to_string(i));
    acc = ((acc << 6) | static_cast<uint32_t>(v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// ---- transport ----

struct EtcdClient::Curl {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};

  ~Curl() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (headers != nullptr) curl_slist_free_all(headers);
  }
};

EtcdClient::EtcdClient(std::vector<std::string> endpoints, int64_t timeout_ms)
    : timeout_ms_(timeout_ms > 0 ? timeout_ms : 1), curl_(std::make_unique<Curl>()) {
  std::call_once(g_curl_global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  endpoints_.reserve(endpoints.size());
  for (auto& e : endpoints) {
    if (e.find("://") == std::string::npos) e = "http://" + e;
    while (!e.empty() && e.back() == '/') e.pop_back();
    endpoints_.push_back(std::move(e));
  }
  curl_->easy = curl_easy_init();
  curl_->headers = curl_slist_append(curl_->headers, "Content-Type: application/json");
  // No "Expect: 100-continue" round trip before a large body.
  curl_->headers = curl_slist_append(curl_->headers, "Expect:");
  if (curl_->easy == nullptr) return;
  CURL* h = curl_->easy;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, curl_->headers);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_->error);
  // etcd is reached directly: an http_proxy set in the environment must not reroute it.
  curl_easy_setopt(h, CURLOPT_PROXY, "");
}

EtcdClient::~EtcdClient() = default;

Result<std::string> EtcdClient::post(const std::string& path, const std::string& body) {
  std::lock_guard<std::mutex> lock(mu_);
  if (endpoints_.empty()) return Status::invalid_argument("etcd: no endpoints configured");
  if (curl_->easy == nullptr) return Status::io_error("etcd: curl_easy_init failed");
  CURL* h = curl_->easy;
  std::string failures;
  const auto note_failure = [&failures](const std::string& endpoint, const std::string& why) {
    if (!failures.empty()) failures += "; ";
    failures += endpoint + ": " + why;
  };
  for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
    const size_t index = (current_ + attempt) % endpoints_.size();
    const std::string& endpoint = endpoints_[index];
    const std::string url = endpoint + path;
    std::string answer;
    curl_->error[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      note_failure(endpoint, curl_->error[0] != '\0' ? curl_->error : curl_easy_strerror(rc));
      continue;
    }
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    const Json doc = parse_answer(answer);
    const std::optional<std::string> error = etcd_error(doc);
    if (http >= 500) {  // etcd unavailable / no leader / internal: another member may do better
      note_failure(endpoint, "HTTP " + std::to_string(http) + (error ? ": " + *error : std::string()));
      continue;
    }
    if (!doc.is_object()) {
      note_failure(endpoint, "HTTP " + std::to_string(http) + ": answer is not etcd JSON");
      continue;
    }
    current_ = index;
    if (error) return Status::io_error("etcd " + path + ": " + *error);
    if (http < 200 || http >= 300) return Status::io_error("etcd " + path + ": HTTP " + std::to_string(http));
    return answer;
  }
  return Status::io_error("etcd " + path + ": no endpoint answered (" + failures + ")");
}

// ---- calls ----

Result<int64_t> EtcdClient::grant(int64_t ttl_seconds) {
  HF_ASSIGN_OR_RETURN(const std::string text,
                      post("/v3/lease/grant", Json{{"TTL", std::to_string(ttl_seconds)}}.dump()));
  HF_ASSIGN_OR_RETURN(const Json doc, parse_ok_answer(text));
  const int64_t id = int_field(doc, "ID");
  if (id == 0) return Status::io_error("etcd /v3/lease/grant: answer carries no lease id");
  return id;
}

Result<int64_t> EtcdClient::keepalive(int64_t lease_id) {
  HF_ASSIGN_OR_RETURN(const std::string text,
                      post("/v3/lease/keepalive", Json{{"ID", std::to_string(lease_id)}}.dump()));
  HF_ASSIGN_OR_RETURN(const Json doc, parse_ok_answer(text));
  const auto result = doc.find("result");
  if (result == doc.end() || !result->is_object()) return Status::io_error("etcd /v3/lease/keepalive: no result");
  return int_field(*result, "TTL");  // absent (0) when etcd no longer has the lease
}

Status EtcdClient::revoke(int64_t lease_id) {
  auto r = post("/v3/lease/revoke", Json{{"ID", std::to_string(lease_id)}}.dump());
  if (!r.is_ok() && r.status().message().find("requested lease not found") != std::string::npos) return Status::ok();
  return r.status();
}

Result<std::optional<EtcdKeyValue>> EtcdClient::get(const std::string& key) {
  HF_ASSIGN_OR_RETURN(const std::string text, post("/v3/kv/range", Json{{"key", base64_encode(key)}}.dump()));
  HF_ASSIGN_OR_RETURN(const Json doc, parse_ok_answer(text));
  HF_ASSIGN_OR_RETURN(std::vector<EtcdKeyValue> kvs, kvs_from_answer(doc));
  if (kvs.empty()) return std::optional<EtcdKeyValue>();
  return std::optional<EtcdKeyValue>(std::move(kvs.front()));
}

Result<std::vector<EtcdKeyValue>> EtcdClient::get_prefix(const std::string& prefix) {
  // etcd refuses an empty key; "\0" with range_end "\0" is "every key".
  const std::string from = prefix.empty() ? std::string(1, '\0') : prefix;
  const Json body{{"key", base64_encode(from)},
                  {"range_end", base64_encode(prefix_range_end(prefix))},
                  {"sort_order", "ASCEND"},
                  {"sort_target", "KEY"}};
  HF_ASSIGN_OR_RETURN(const std::string text, post("/v3/kv/range", body.dump()));
  HF_ASSIGN_OR_RETURN(const Json doc, parse_ok_answer(text));
  return kvs_from_answer(doc);
}

Status EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  return post("/v3/kv/put", put_json(key, value, lease).dump()).status();
}

Result<bool> EtcdClient::txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& success,
                             const std::vector<EtcdOp>& failure) {
  Json body{{"compare", Json::array()}, {"success", Json::array()}, {"failure", Json::array()}};
  for (const auto& c : compares) body["compare"].push_back(compare_json(c));
  for (const auto& op : success) body["success"].push_back(op_json(op));
  for (const auto& op : failure) body["failure"].push_back(op_json(op));
  HF_ASSIGN_OR_RETURN(const std::string text, post("/v3/kv/txn", body.dump()));
  HF_ASSIGN_OR_RETURN(const Json doc, parse_ok_answer(text));
  const auto it = doc.find("succeeded");  // omitted when false
  return it != doc.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace holdfast::ha
