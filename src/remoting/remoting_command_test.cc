// RemotingCommand helpers: language names, flags, make_response, extFields and typed getters,
// and the request/response code tables.
#include "remoting/remoting_command.h"

#include <gtest/gtest.h>

#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::remoting {
namespace {

TEST(LanguageCode, NamesMatchTheFactsTable) {
  const std::pair<const char*, int> expected[] = {
      {"JAVA", 0}, {"CPP", 1},   {"DOTNET", 2}, {"PYTHON", 3}, {"DELPHI", 4}, {"ERLANG", 5}, {"RUBY", 6},
      {"OTHER", 7}, {"HTTP", 8}, {"GO", 9},     {"PHP", 10},   {"OMS", 11},   {"RUST", 12},  {"NODE_JS", 13},
  };
  for (const auto& [name, code] : expected) {
    auto lang = language_from_name(name);
    ASSERT_TRUE(lang.has_value()) << name;
    EXPECT_EQ(static_cast<int>(*lang), code) << name;
    EXPECT_STREQ(language_name(static_cast<LanguageCode>(code)), name);
    EXPECT_EQ(language_from_code(code), *lang);
  }
  EXPECT_FALSE(language_from_name("java").has_value());  // case-sensitive, like Java's valueOf
  EXPECT_FALSE(language_from_name("COBOL").has_value());
  EXPECT_EQ(language_from_code(14), LanguageCode::kOther);
  EXPECT_EQ(language_from_code(-1), LanguageCode::kOther);
  EXPECT_STREQ(language_name(static_cast<LanguageCode>(200)), "OTHER");
}

TEST(RemotingCommand, FlagBits) {
  RemotingCommand cmd;
  EXPECT_FALSE(cmd.is_response());
  EXPECT_FALSE(cmd.is_oneway());
  cmd.mark_oneway();
  EXPECT_EQ(cmd.flag, 2);
  EXPECT_TRUE(cmd.is_oneway());
  EXPECT_FALSE(cmd.is_response());
  cmd.flag = 1;
  EXPECT_TRUE(cmd.is_response());
  EXPECT_FALSE(cmd.is_oneway());
  cmd.flag = 3;
  EXPECT_TRUE(cmd.is_response());
  EXPECT_TRUE(cmd.is_oneway());
}

TEST(RemotingCommand, MakeResponseMirrorsTheRequest) {
  RemotingCommand request = RemotingCommand::make_request(request_code::kSendMessageV2);
  EXPECT_EQ(request.code, 310);
  EXPECT_EQ(request.version, kLocalVersion);
  EXPECT_FALSE(request.is_response());
  request.opaque = 12345;
  request.language = LanguageCode::kGo;
  request.set_ext("b", "TopicTest");
  request.body = "payload";

  RemotingCommand ok = request.make_response(response_code::kSuccess);
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.opaque, 12345);
  EXPECT_TRUE(ok.is_response());
  EXPECT_FALSE(ok.is_oneway());
  EXPECT_FALSE(ok.remark.has_value());
  EXPECT_TRUE(ok.ext_fields.empty());
  EXPECT_TRUE(ok.body.empty());
  EXPECT_EQ(ok.version, kLocalVersion);
  EXPECT_EQ(ok.language, LanguageCode::kJava);

  RemotingCommand busy = request.make_response(response_code::kSystemBusy, "[OVERLOAD]system busy");
  EXPECT_EQ(busy.code, 2);
  EXPECT_EQ(busy.opaque, 12345);
  EXPECT_TRUE(busy.is_response());
  ASSERT_TRUE(busy.remark.has_value());
  EXPECT_EQ(*busy.remark, "[OVERLOAD]system busy");

  RemotingCommand empty_remark = request.make_response(1, "");
  ASSERT_TRUE(empty_remark.remark.has_value());  // "" is not null
  EXPECT_EQ(*empty_remark.remark, "");
}

TEST(ExtFields, SetReplacesGetAndErase) {
  ExtFields ext;
  EXPECT_FALSE(ext.get("a").has_value());
  ext.set("a", "1");
  ext.set("b", "2");
  ext.set("a", "3");
  EXPECT_EQ(ext.size(), 2u);
  EXPECT_EQ(ext.get("a"), "3");
  EXPECT_EQ(ext.get("b"), "2");
  EXPECT_FALSE(ext.get("A").has_value());
  EXPECT_FALSE(ext.get("ab").has_value());
  EXPECT_TRUE(ext.contains("b"));
  EXPECT_TRUE(ext.erase("a"));
  EXPECT_FALSE(ext.erase("a"));
  EXPECT_EQ(ext.size(), 1u);
  EXPECT_EQ(ext.begin()->first, "b");
  ext.set("", "empty key");
  EXPECT_EQ(ext.get(""), "empty key");
}

TEST(ExtFields, EqualityIgnoresOrder) {
  ExtFields x, y;
  x.set("a", "1");
  x.set("b", "2");
  y.set("b", "2");
  y.set("a", "1");
  EXPECT_EQ(x, y);
  y.set("a", "9");
  EXPECT_NE(x, y);
  y.set("a", "1");
  y.set("c", "3");
  EXPECT_NE(x, y);
}

TEST(ExtFields, ResolveDuplicatesKeepsFirstPositionAndLastValue) {
  for (int n : {3, 40}) {  // the quadratic path (<= 16) and the sorting path
    ExtFields ext;
    for (int i = 0; i < n; ++i) ext.append_unchecked("k" + std::to_string(i), "v" + std::to_string(i));
    ext.append_unchecked("k1", "later");
    ext.append_unchecked("k0", "latest0");
    ext.append_unchecked("k1", "latest1");
    ext.resolve_duplicates();
    ASSERT_EQ(ext.size(), static_cast<size_t>(n)) << "n=" << n;
    EXPECT_EQ(ext.get("k0"), "latest0");
    EXPECT_EQ(ext.get("k1"), "latest1");
    EXPECT_EQ(ext.get("k2"), "v2");
    auto it = ext.begin();
    EXPECT_EQ(it->first, "k0");
    ++it;
    EXPECT_EQ(it->first, "k1");
  }
}

TEST(ExtFields, ResolveDuplicatesWithoutDuplicatesKeepsEverything) {
  ExtFields ext;
  for (int i = 0; i < 100; ++i) ext.append_unchecked("key" + std::to_string(i), std::to_string(i));
  ext.resolve_duplicates();
  ASSERT_EQ(ext.size(), 100u);
  int i = 0;
  for (const auto& [k, v] : ext) {
    EXPECT_EQ(k, "key" + std::to_string(i));
    ++i;
  }
}

TEST(TypedGetters, Int32) {
  RemotingCommand cmd;
  cmd.set_ext("queueId", "3");
  cmd.set_ext("neg", "-7");
  cmd.set_ext("plus", "+5");
  cmd.set_ext("max", "2147483647");
  cmd.set_ext("min", "-2147483648");
  EXPECT_EQ(cmd.get_int32("queueId").value(), 3);
  EXPECT_EQ(cmd.get_int32("neg").value(), -7);
  EXPECT_EQ(cmd.get_int32("plus").value(), 5);
  EXPECT_EQ(cmd.get_int32("max").value(), INT32_MAX);
  EXPECT_EQ(cmd.get_int32("min").value(), INT32_MIN);
}

TEST(TypedGetters, ReadableErrors) {
  RemotingCommand cmd;
  cmd.set_ext("queueId", "abc");
  cmd.set_ext("big", "2147483648");
  cmd.set_ext("huge", "99999999999999999999");
  cmd.set_ext("flag", "yes");

  auto missing = cmd.get_int32("topicQueueId");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "missing header field 'topicQueueId'");

  auto bad = cmd.get_int32("queueId");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message(), "header field 'queueId' is not an integer: 'abc'");

  auto big = cmd.get_int32("big");
  ASSERT_FALSE(big.is_ok());
  EXPECT_EQ(big.status().message(), "header field 'big' is out of range for int32: '2147483648'");
  EXPECT_EQ(cmd.get_int64("big").value(), 2147483648LL);

  auto huge = cmd.get_int64("huge");
  ASSERT_FALSE(huge.is_ok());
  EXPECT_EQ(huge.status().message(), "header field 'huge' is out of range for int64: '99999999999999999999'");

  // Java's Boolean.parseBoolean: anything but "true" (any case) is false, never an error.
  auto not_true = cmd.get_bool("flag");
  ASSERT_TRUE(not_true.is_ok());
  EXPECT_FALSE(*not_true);
  EXPECT_EQ(cmd.get_bool("absent").status().message(), "missing header field 'absent'");
}

TEST(TypedGetters, RejectsWhatJavaParseLongRejects) {
  RemotingCommand cmd;
  for (const char* text : {"", " 3", "3 ", "3.0", "1e3", "0x10", "+", "-", "+-1", "--1", "3a"}) {
    cmd.set_ext("x", text);
    EXPECT_FALSE(cmd.get_int64("x").is_ok()) << "'" << text << "'";
    EXPECT_FALSE(cmd.get_int32("x").is_ok()) << "'" << text << "'";
  }
  cmd.set_ext("x", "007");
  EXPECT_EQ(cmd.get_int64("x").value(), 7);
}

TEST(TypedGetters, Int64Limits) {
  RemotingCommand cmd;
  cmd.set_ext("max", "9223372036854775807");
  cmd.set_ext("min", "-9223372036854775808");
  cmd.set_ext("over", "9223372036854775808");
  cmd.set_ext("under", "-9223372036854775809");
  EXPECT_EQ(cmd.get_int64("max").value(), INT64_MAX);
  EXPECT_EQ(cmd.get_int64("min").value(), INT64_MIN);
  EXPECT_FALSE(cmd.get_int64("over").is_ok());
  EXPECT_FALSE(cmd.get_int64("under").is_ok());
}

TEST(TypedGetters, Bool) {
  RemotingCommand cmd;
  cmd.set_ext("t", "true");
  cmd.set_ext("T", "TRUE");
  cmd.set_ext("f", "false");
  cmd.set_ext("F", "False");
  EXPECT_TRUE(cmd.get_bool("t").value());
  EXPECT_TRUE(cmd.get_bool("T").value());
  EXPECT_FALSE(cmd.get_bool("f").value());
  EXPECT_FALSE(cmd.get_bool("F").value());
  // rocketmq-client-cpp 2.2.0 writes its booleans as "0" / "1"; RocketMQ reads both as false.
  cmd.set_ext("zero", "0");
  cmd.set_ext("one", "1");
  cmd.set_ext("empty", "");
  EXPECT_FALSE(cmd.get_bool("zero").value());
  EXPECT_FALSE(cmd.get_bool("one").value());
  EXPECT_FALSE(cmd.get_bool("empty").value());
}

TEST(TypedSetters, WriteJavaText) {
  RemotingCommand cmd;
  cmd.set_ext_int("queueOffset", -9223372036854775807LL - 1);
  cmd.set_ext_int("queueId", 3);
  cmd.set_ext_bool("unitMode", false);
  cmd.set_ext("msgId", "AC11000100002A9F");
  EXPECT_EQ(cmd.ext("queueOffset"), "-9223372036854775808");
  EXPECT_EQ(cmd.ext("queueId"), "3");
  EXPECT_EQ(cmd.ext("unitMode"), "false");
  EXPECT_EQ(cmd.ext("msgId"), "AC11000100002A9F");
  cmd.set_ext_int("queueId", 4);
  EXPECT_EQ(cmd.ext("queueId"), "4");
  EXPECT_EQ(cmd.ext_fields.size(), 4u);
}

TEST(Codes, RequestCodesMatchTheFacts) {
  EXPECT_EQ(request_code::kSendMessage, 10);
  EXPECT_EQ(request_code::kPullMessage, 11);
  EXPECT_EQ(request_code::kHeartBeat, 34);
  EXPECT_EQ(request_code::kEndTransaction, 37);
  EXPECT_EQ(request_code::kCheckTransactionState, 39);
  EXPECT_EQ(request_code::kGetRouteinfoByTopic, 105);
  EXPECT_EQ(request_code::kSendMessageV2, 310);
  EXPECT_EQ(request_code::kSendBatchMessage, 320);
  EXPECT_EQ(request_code::kLitePullMessage, 361);
  EXPECT_EQ(request_code::kPopMessage, 200050);
  EXPECT_EQ(request_code::kBatchAckMessage, 200151);
  EXPECT_EQ(request_code::kNotifyBrokerRoleChanged, 1008);
  EXPECT_STREQ(request_code_name(310), "SEND_MESSAGE_V2");
  EXPECT_STREQ(request_code_name(10), "SEND_MESSAGE");
  EXPECT_STREQ(request_code_name(200053), "CHANGE_MESSAGE_INVISIBLETIME");
  EXPECT_STREQ(request_code_name(16), "UNKNOWN");
  EXPECT_STREQ(request_code_name(-1), "UNKNOWN");
}

TEST(Codes, ResponseCodesMatchTheFacts) {
  EXPECT_EQ(response_code::kSuccess, 0);
  EXPECT_EQ(response_code::kFlushDiskTimeout, 10);
  EXPECT_EQ(response_code::kSlaveNotAvailable, 11);
  EXPECT_EQ(response_code::kFlushSlaveTimeout, 12);
  EXPECT_EQ(response_code::kServiceNotAvailable, 14);
  EXPECT_EQ(response_code::kQueryNotFound, 22);
  EXPECT_EQ(response_code::kInvalidParameter, 29);
  EXPECT_EQ(response_code::kTransactionStateUnknow, 202);
  EXPECT_EQ(response_code::kFlowControl, 215);
  EXPECT_EQ(response_code::kGoAway, 1500);
  EXPECT_EQ(response_code::kControllerNotLeader, 2007);
  EXPECT_EQ(response_code::kRpcTimeOut, -1006);
  EXPECT_EQ(response_code::kUpdateAndCreateAclConfigFailed, response_code::kPollingFull);
  EXPECT_STREQ(response_code_name(10), "FLUSH_DISK_TIMEOUT");
  EXPECT_STREQ(response_code_name(209), "POLLING_FULL");
  EXPECT_STREQ(response_code_name(2016), "CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS");
  EXPECT_STREQ(response_code_name(-1004), "RPC_SEND_TO_CHANNEL_FAILED");
  EXPECT_STREQ(response_code_name(5), "UNKNOWN");
}

}  // namespace
}  // namespace holdfast::remoting
