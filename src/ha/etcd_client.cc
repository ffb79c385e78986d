// EtcdClient over libcurl and etcd's JSON gateway.
#include "ha/etcd_client.h"

#include <curl/curl.h>

#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

namespace holdfast::ha {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::once_flag g_curl_init;

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// etcd's gateway writes int64 fields as strings; accept numbers too.
int64_t int_field(const nlohmann::json& j, const char* name) {
  if (!j.is_object() || !j.contains(name)) return 0;
  const auto& v = j[name];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) return std::strtoll(v.get<std::string>().c_str(), nullptr, 10);
  return 0;
}

// The key just after every key that starts with prefix (etcd's range_end for a prefix).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

const char* target_name(EtcdCompare::Target t) {
  switch (t) {
    case EtcdCompare::Target::kVersion: return "VERSION";
    case EtcdCompare::Target::kCreateRevision: return "CREATE";
    case EtcdCompare::Target::kModRevision: return "MOD";
    case EtcdCompare::Target::kValue: return "VALUE";
  }
  return "MOD";
}

const char* result_name(EtcdCompare::Result r) {
  switch (r) {
    case EtcdCompare::Result::kEqual: return "EQUAL";
    case EtcdCompare::Result::kGreater: return "GREATER";
    case EtcdCompare::Result::kLess: return "LESS";
    case EtcdCompare::Result::kNotEqual: return "NOT_EQUAL";
  }
  return "EQUAL";
}

nlohmann::json op_json(const EtcdOp& op) {
  if (op.kind == EtcdOp::Kind::kDelete) return {{"request_delete_range", {{"key", base64_encode(op.key)}}}};
  nlohmann::json put{{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
  if (op.lease != 0) put["lease"] = std::to_string(op.lease);
  return {{"request_put", put}};
}

Result<EtcdKeyValue> decode_kv(const nlohmann::json& j) {
  EtcdKeyValue kv;
  HF_ASSIGN_OR_RETURN(kv.key, base64_decode(j.value("key", std::string())));
  HF_ASSIGN_OR_RETURN(kv.value, base64_decode(j.value("value", std::string())));
  kv.create_revision = int_field(j, "create_revision");
  kv.mod_revision = int_field(j, "mod_revision");
  kv.version = int_field(j, "version");
  kv.lease = int_field(j, "lease");
  return kv;
}

}  // namespace

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                       static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : in) {
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return Status::invalid_argument("base64: data after padding");
    const char* at = std::strchr(kAlphabet, c);
    if (c == '\0' || at == nullptr) return Status::invalid_argument("base64: bad character");
    acc = (acc << 6) | static_cast<uint32_t>(at - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (padding > 2 || bits >= 6) return Status::invalid_argument("base64: truncated input");
  return out;
}

struct EtcdClient::Curl {
  CURL* handle = nullptr;
  curl_slist* headers = nullptr;
  ~Curl() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (handle != nullptr) curl_easy_cleanup(handle);
  }
};

EtcdClient::EtcdClient(std::vector<std::string> endpoints, int64_t timeout_ms)
    : timeout_ms_(timeout_ms), curl_(std::make_unique<Curl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  for (auto& e : endpoints) {
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) e = "http://" + e;
    while (!e.empty() && e.back() == '/') e.pop_back();
    endpoints_.push_back(std::move(e));
  }
  curl_->handle = curl_easy_init();
  curl_->headers = curl_slist_append(nullptr, "Content-Type: application/json");
}

EtcdClient::~EtcdClient() = default;

Result<std::string> EtcdClient::post(const std::string& path, const std::string& body) {
  std::lock_guard<std::mutex> lock(mu_);
  if (endpoints_.empty()) return Status::invalid_argument("etcd: no endpoints");
  if (curl_->handle == nullptr) return Status::io_error("etcd: curl_easy_init failed");
  std::string errors;
  for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
    const size_t index = (current_ + attempt) % endpoints_.size();
    const std::string url = endpoints_[index] + path;
    std::string response;
    CURL* h = curl_->handle;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, curl_->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    const CURLcode rc = curl_easy_perform(h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    if (rc != CURLE_OK) {
      errors += (errors.empty() ? "" : "; ") + endpoints_[index] + ": " + curl_easy_strerror(rc);
      continue;
    }
    auto doc = nlohmann::json::parse(response, nullptr, false);
    if (http >= 500 && (doc.is_discarded() || !doc.contains("error"))) {
      errors += (errors.empty() ? "" : "; ") + endpoints_[index] + ": HTTP " + std::to_string(http);
      continue;
    }
    current_ = index;
    if (doc.is_discarded()) return Status::io_error("etcd " + endpoints_[index] + ": unreadable answer (HTTP " + std::to_string(http) + ")");
    if (doc.is_object() && doc.contains("error")) {
      const std::string message = doc.value("message", doc["error"].is_string() ? doc["error"].get<std::string>() : "");
      return Status::io_error("etcd: " + message + " (code " + std::to_string(int_field(doc, "code")) + ")");
    }
    return response;
  }
  return Status::io_error("etcd unreachable: " + errors);
}

Result<int64_t> EtcdClient::grant(int64_t ttl_seconds) {
  HF_ASSIGN_OR_RETURN(std::string text, post("/v3/lease/grant", nlohmann::json{{"TTL", std::to_string(ttl_seconds)}}.dump()));
  const auto doc = nlohmann::json::parse(text);
  const int64_t id = int_field(doc, "ID");
  if (id == 0) return Status::io_error("etcd: lease grant returned no id");
  return id;
}

Result<int64_t> EtcdClient::keepalive(int64_t lease_id) {
  HF_ASSIGN_OR_RETURN(std::string text, post("/v3/lease/keepalive", nlohmann::json{{"ID", std::to_string(lease_id)}}.dump()));
  // The gateway streams; one request gives one {"result": ...} object (possibly followed by more).
  const size_t end = text.find('\n');
  const auto doc = nlohmann::json::parse(end == std::string::npos ? text : text.substr(0, end), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Status::io_error("etcd: unreadable keep-alive answer");
  if (doc.contains("error")) return Status::io_error("etcd keep-alive: " + doc["error"].dump());
  return int_field(doc.value("result", nlohmann::json::object()), "TTL");
}

Status EtcdClient::revoke(int64_t lease_id) {
  auto r = post("/v3/lease/revoke", nlohmann::json{{"ID", std::to_string(lease_id)}}.dump());
  if (!r.is_ok() && r.status().message().find("lease not found") != std::string::npos) return Status::ok();
  return r.status();
}

Result<std::optional<EtcdKeyValue>> EtcdClient::get(const std::string& key) {
  HF_ASSIGN_OR_RETURN(std::string text, post("/v3/kv/range", nlohmann::json{{"key", base64_encode(key)}}.dump()));
  const auto doc = nlohmann::json::parse(text);
  if (!doc.contains("kvs") || doc["kvs"].empty()) return std::optional<EtcdKeyValue>();
  HF_ASSIGN_OR_RETURN(EtcdKeyValue kv, decode_kv(doc["kvs"][0]));
  return std::optional<EtcdKeyValue>(std::move(kv));
}

Result<std::vector<EtcdKeyValue>> EtcdClient::get_prefix(const std::string& prefix) {
  HF_ASSIGN_OR_RETURN(std::string text,
                      post("/v3/kv/range", nlohmann::json{{"key", base64_encode(prefix)},
                                                          {"range_end", base64_encode(prefix_end(prefix))}}
                                               .dump()));
  const auto doc = nlohmann::json::parse(text);
  std::vector<EtcdKeyValue> out;
  if (doc.contains("kvs")) {
    for (const auto& j : doc["kvs"]) {
      HF_ASSIGN_OR_RETURN(EtcdKeyValue kv, decode_kv(j));
      out.push_back(std::move(kv));
    }
  }
  return out;
}

Status EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  nlohmann::json body{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) body["lease"] = std::to_string(lease);
  return post("/v3/kv/put", body.dump()).status();
}

Result<bool> EtcdClient::txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& success,
                             const std::vector<EtcdOp>& failure) {
  nlohmann::json body{{"compare", nlohmann::json::array()}, {"success", nlohmann::json::array()},
                      {"failure", nlohmann::json::array()}};
  for (const auto& c : compares) {
    nlohmann::json j{{"key", base64_encode(c.key)}, {"target", target_name(c.target)}, {"result", result_name(c.result)}};
    switch (c.target) {
      case EtcdCompare::Target::kVersion: j["version"] = std::to_string(c.number); break;
      case EtcdCompare::Target::kCreateRevision: j["create_revision"] = std::to_string(c.number); break;
      case EtcdCompare::Target::kModRevision: j["mod_revision"] = std::to_string(c.number); break;
      case EtcdCompare::Target::kValue: j["value"] = base64_encode(c.value); break;
    }
    body["compare"].push_back(std::move(j));
  }
  for (const auto& op : success) body["success"].push_back(op_json(op));
  for (const auto& op : failure) body["failure"].push_back(op_json(op));
  HF_ASSIGN_OR_RETURN(std::string text, post("/v3/kv/txn", body.dump()));
  const auto doc = nlohmann::json::parse(text);
  return doc.value("succeeded", false);
}

}  // namespace holdfast::ha
