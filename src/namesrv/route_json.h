// JSON bodies of the name-server requests (facts §12.1–12.3): the route, cluster-info and
// topic-list writers in both of Java's map-key forms, and the REGISTER_BROKER body reader.
// Byte-level description: docs/format/route.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "namesrv/route_info_manager.h"

namespace holdfast::namesrv {

// MQVersion ordinal of V4_9_4: from this version on a client gets standard JSON routes.
inline constexpr int kRouteStandardJsonMinVersion = 401;
// Objects and arrays nested deeper than this make a register body malformed (the real body nests
// about five deep), so a hostile body cannot exhaust the reader's stack.
inline constexpr int kMaxRegisterBodyDepth = 64;

// GET_ROUTEINFO_BY_TOPIC's key-form rule (ClientRequestProcessor.getRouteInfoByTopic): standard
// JSON for request version >= 401 or when the header's acceptStandardJsonOnly is true;
// otherwise fastjson's form, which old Java, Go (version 317) and C++ clients expect.
bool route_json_standard_for(int request_version, bool accept_standard_json_only);

// The writers produce compact JSON (no whitespace; the old Go client splits brokerAddrs on ','
// and ':' by hand), with object keys in fastjson's alphabetical field order and null/empty
// optional fields omitted as fastjson omits nulls.
//  - standard_json=true: numeric map keys quoted ("brokerAddrs":{"0":"10.0.0.1:10911"}) and
//    every non-ASCII character written as \uXXXX (fastjson's BrowserCompatible).
//  - standard_json=false: numeric map keys bare ({0:"10.0.0.1:10911"}) and UTF-8 written as is.
// Both escape '"', '\\' and control characters (RFC 8259); invalid UTF-8 becomes U+FFFD so the
// output is always well-formed text.

// {"brokerDatas":[{"brokerAddrs":{..},"brokerName":..,"cluster":..,"enableActingMaster":false
// [,"zoneName":..]}],"filterServerTable":{}[,"orderTopicConf":..],"queueDatas":[{"brokerName":..,
// "perm":..,"readQueueNums":..,"topicSysFlag":..,"writeQueueNums":..}]}
// Lists are written in the given order (RouteInfoManager sorts them by brokerName).
std::string encode_topic_route(const TopicRouteData& route, bool standard_json);

// {"brokerAddrTable":{brokerName:BrokerData},"clusterAddrTable":{cluster:[brokerName,..]}}.
// A Java name server encodes this with plain fastjson for every client version, so the processor
// should pass standard_json=false to stay identical.
std::string encode_cluster_info(const ClusterInfo& info, bool standard_json);

// {"topicList":[..]} in the given order. Topic names are ASCII by RocketMQ's rules; non-ASCII is
// written as UTF-8.
std::string encode_topic_list(const std::vector<std::string>& topics);

// The decoded REGISTER_BROKER body.
struct RegisterBody {
  // topicConfigTable's values in document order. A value without "topicName" takes its map key.
  std::vector<TopicConfig> topic_configs;
  DataVersion data_version;
  std::vector<std::string> filter_server_list;
};

// Reads {"topicConfigSerializeWrapper":{"topicConfigTable":{..},"dataVersion":{..},..},
// "filterServerList":[..]} (uncompressed; compressed=true bodies are not supported).
//  - unknown keys at any level are skipped whatever their value (5.x "attributes",
//    "topicQueueMappingInfoMap", ...); a known key whose value is null keeps its default;
//  - object keys may be strings, fastjson's bare tokens (0, -1, abc) or, inside skipped values,
//    fastjson's object-literal keys ({..}:..);
//  - integers may be JSON integers or strings holding one ("8"); fractions, exponents and values
//    outside the field's range are errors; booleans may be true/false or "true"/"false";
//  - topicFilterType is "SINGLE_TAG" or "MULTI_TAG"; missing TopicConfig fields take Java's
//    TopicConfig defaults (16/16 queues, perm 6, SINGLE_TAG, sysFlag 0, not ordered);
//  - nesting deeper than kMaxRegisterBodyDepth, trailing text after the object, raw control
//    characters in strings and anything else malformed are Corruption naming the byte offset:
//    "malformed register body at offset 57: expected ':' after object key".
Result<RegisterBody> decode_register_body(std::string_view json);

}  // namespace holdfast::namesrv
