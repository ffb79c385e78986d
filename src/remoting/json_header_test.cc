// JSON header codec: headers as Java, C++ and Go clients write them, every string escape, skipped
// unknown keys, the malformed-input catalogue, the Java-style encoder, and random round trips.
#include "remoting/json_header.h"

#include <gtest/gtest.h>

#include <random>

#include "remoting/remoting_test_util.h"

namespace holdfast::remoting {
namespace {

RemotingCommand decode_ok(std::string_view json) {
  RemotingCommand cmd;
  Status st = decode_json_header(json, &cmd);
  EXPECT_TRUE(st.is_ok()) << st.to_string() << "\ninput: " << json;
  return cmd;
}

Status decode_err(std::string_view json) {
  RemotingCommand cmd;
  return decode_json_header(json, &cmd);
}

TEST(JsonHeader, DecodesJavaStyleSendMessageV2) {
  // fastjson: alphabetical keys, control characters in the properties escaped as \u0001.
  const char* json =
      R"({"code":310,"extFields":{"a":"please_rename_unique_group_name","b":"TopicTest","c":"TBW102",)"
      R"("d":"4","e":"3","f":"0","g":"1700000000123","h":"0",)"
      R"("i":"UNIQ_KEY\u00017F00000100002A9F0000000000000001\u0002WAIT\u0001true\u0002TAGS\u0001TagA\u0002",)"
      R"("j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":42,)"
      R"("serializeTypeCurrentRPC":"JSON","version":409})";
  RemotingCommand cmd = decode_ok(json);
  RemotingCommand expected = testing::sample_send_v2();
  expected.body.clear();
  EXPECT_EQ(cmd, expected);
  EXPECT_EQ(cmd.code, 310);
  EXPECT_EQ(cmd.language, LanguageCode::kJava);
  EXPECT_EQ(cmd.version, 409);
  EXPECT_EQ(cmd.opaque, 42);
  EXPECT_EQ(cmd.flag, 0);
  EXPECT_FALSE(cmd.remark.has_value());
  EXPECT_EQ(cmd.ext("i"), std::string("UNIQ_KEY\x01" "7F00000100002A9F0000000000000001\x02WAIT\x01true\x02TAGS\x01TagA\x02"));
  EXPECT_EQ(cmd.get_int32("e").value(), 3);
  EXPECT_EQ(cmd.get_int64("g").value(), 1700000000123);
}

TEST(JsonHeader, DecodesCppStyleNumericAndBooleanExtFields) {
  // rocketmq-client-cpp writes numbers as JSON numbers, in its own key order, with a newline.
  const char* json =
      "{\"code\":310,\"extFields\":{\"a\":\"g1\",\"b\":\"T\",\"d\":4,\"e\":3,\"g\":1700000000123,"
      "\"h\":-1,\"k\":false,\"m\":true,\"x\":-1.5e3,\"AccessKey\":\"\",\"OnsChannel\":\"\"},"
      "\"flag\":0,\"language\":\"CPP\",\"opaque\":1,\"remark\":\"\",\"version\":335}\n";
  RemotingCommand cmd = decode_ok(json);
  EXPECT_EQ(cmd.language, LanguageCode::kCpp);
  EXPECT_EQ(cmd.version, 335);
  EXPECT_EQ(cmd.ext("d"), "4");
  EXPECT_EQ(cmd.get_int32("e").value(), 3);
  EXPECT_EQ(cmd.get_int64("g").value(), 1700000000123);
  EXPECT_EQ(cmd.get_int32("h").value(), -1);
  EXPECT_EQ(cmd.ext("k"), "false");
  EXPECT_EQ(cmd.ext("m"), "true");
  EXPECT_FALSE(cmd.get_bool("k").value());
  EXPECT_EQ(cmd.ext("x"), "-1.5e3");  // verbatim
  EXPECT_EQ(cmd.ext("AccessKey"), "");
  EXPECT_EQ(cmd.ext_fields.size(), 11u);
}

TEST(JsonHeader, DecodesGoStyleEmptyRemark) {
  RemotingCommand cmd =
      decode_ok(R"({"code":34,"language":"GO","version":317,"opaque":5,"flag":0,"remark":"","extFields":{}})");
  EXPECT_EQ(cmd.code, 34);
  EXPECT_EQ(cmd.language, LanguageCode::kGo);
  EXPECT_EQ(cmd.version, 317);
  EXPECT_EQ(cmd.opaque, 5);
  ASSERT_TRUE(cmd.remark.has_value());  // "" stays distinct from null
  EXPECT_EQ(*cmd.remark, "");
  EXPECT_TRUE(cmd.ext_fields.empty());
}

TEST(JsonHeader, RemarkNullOrAbsentAndDefaults) {
  RemotingCommand cmd = decode_ok(R"({"remark":null,"extFields":null})");
  EXPECT_FALSE(cmd.remark.has_value());
  EXPECT_EQ(cmd.code, 0);
  EXPECT_EQ(cmd.language, LanguageCode::kJava);
  EXPECT_TRUE(cmd.ext_fields.empty());

  // Decoding overwrites every header field left over from an earlier use of the command.
  RemotingCommand reused = testing::sample_send_v2();
  reused.remark = "old";
  ASSERT_TRUE(decode_json_header("{}", &reused).is_ok());
  EXPECT_EQ(reused.code, 0);
  EXPECT_EQ(reused.version, 0);
  EXPECT_EQ(reused.opaque, 0);
  EXPECT_FALSE(reused.remark.has_value());
  EXPECT_TRUE(reused.ext_fields.empty());
  EXPECT_EQ(reused.body, "Hello RocketMQ");  // the body is not the header's business

  RemotingCommand nulls = decode_ok(R"({"code":null,"language":null,"opaque":null,"flag":null,"version":null})");
  EXPECT_EQ(nulls.code, 0);
  EXPECT_EQ(nulls.language, LanguageCode::kJava);
}

TEST(JsonHeader, LanguageAsNameOrNumber) {
  EXPECT_EQ(decode_ok(R"({"language":9})").language, LanguageCode::kGo);
  EXPECT_EQ(decode_ok(R"({"language":13})").language, LanguageCode::kNodeJs);
  EXPECT_EQ(decode_ok(R"({"language":"NODE_JS"})").language, LanguageCode::kNodeJs);
  EXPECT_EQ(decode_ok(R"({"language":"RUST"})").language, LanguageCode::kRust);
  EXPECT_EQ(decode_ok(R"({"language":"COBOL"})").language, LanguageCode::kOther);
  EXPECT_EQ(decode_ok(R"({"language":99})").language, LanguageCode::kOther);
  EXPECT_EQ(decode_ok(R"({"language":"J\u0041VA"})").language, LanguageCode::kJava);
  EXPECT_FALSE(decode_err(R"({"language":true})").is_ok());
}

TEST(JsonHeader, IntegersInRangeAndAsStrings) {
  RemotingCommand cmd = decode_ok(R"({"code":-1000,"opaque":2147483647,"flag":-2147483648,"version":"409"})");
  EXPECT_EQ(cmd.code, -1000);
  EXPECT_EQ(cmd.opaque, INT32_MAX);
  EXPECT_EQ(cmd.flag, INT32_MIN);
  EXPECT_EQ(cmd.version, 409);
  EXPECT_EQ(decode_ok(R"({"code":-0})").code, 0);
}

TEST(JsonHeader, StringEscapes) {
  RemotingCommand cmd = decode_ok(R"({"remark":"q\" b\\ s\/ \b\f\n\r\t end"})");
  EXPECT_EQ(*cmd.remark, "q\" b\\ s/ \b\f\n\r\t end");

  cmd = decode_ok(R"({"remark":"\u0000\u001f\u0041\u00e9\u20AC"})");
  EXPECT_EQ(*cmd.remark, std::string("\x00\x1f" "A\xC3\xA9\xE2\x82\xAC", 8));

  // U+1F600 as a surrogate pair -> 4-byte UTF-8.
  cmd = decode_ok(R"({"remark":"x\ud83d\ude00y"})");
  EXPECT_EQ(*cmd.remark, "x\xF0\x9F\x98\x80y");
  // Lone surrogates (valid JSON grammar) become U+FFFD.
  cmd = decode_ok(R"({"remark":"\ud83dx\ude00\ud83d\u0041\ud83d"})");
  EXPECT_EQ(*cmd.remark, "\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD" "A\xEF\xBF\xBD");

  // Raw UTF-8 passes through untouched.
  cmd = decode_ok("{\"remark\":\"\xE4\xB8\xAD\xE6\x96\x87\"}");
  EXPECT_EQ(*cmd.remark, "\xE4\xB8\xAD\xE6\x96\x87");

  // Escapes in keys and ext values.
  cmd = decode_ok(R"({"c\u006fde":12,"extFields":{"k\"1":"v\\1","\u00e9":"\u00e9"}})");
  EXPECT_EQ(cmd.code, 12);
  EXPECT_EQ(cmd.ext("k\"1"), "v\\1");
  EXPECT_EQ(cmd.ext("\xC3\xA9"), "\xC3\xA9");
}

TEST(JsonHeader, SkipsUnknownKeysWhateverTheirValue) {
  const char* json = R"({"zzz":{"a":[1,{"b":null,"c":[true,false,"]}"]}],"d":"}"},"code":5,)"
                     R"("arr":[[],[[]],{}],"t":true,"n":null,"num":-0.5e+2,"s":"\"\\",)"
                     R"("serializeTypeCurrentRPC":"ROCKETMQ","opaque":6})";
  RemotingCommand cmd = decode_ok(json);
  EXPECT_EQ(cmd.code, 5);
  EXPECT_EQ(cmd.opaque, 6);
  EXPECT_TRUE(cmd.ext_fields.empty());
}

TEST(JsonHeader, WhitespaceEverywhere) {
  RemotingCommand cmd = decode_ok(
      " \r\n\t{ \"code\" : 1 , \"extFields\" : { \"a\" : \"b\" , \"c\" : 2 } , \"remark\" : \"r\" , "
      "\"x\" : [ 1 , { \"y\" : 2 } ] } \n ");
  EXPECT_EQ(cmd.code, 1);
  EXPECT_EQ(cmd.ext("a"), "b");
  EXPECT_EQ(cmd.ext("c"), "2");
  EXPECT_EQ(*cmd.remark, "r");
}

TEST(JsonHeader, DuplicateKeysLastValueWins) {
  RemotingCommand cmd = decode_ok(R"({"code":1,"code":2,"extFields":{"a":"1","b":"x","a":"2"},"remark":"r","remark":null})");
  EXPECT_EQ(cmd.code, 2);
  EXPECT_EQ(cmd.ext("a"), "2");
  EXPECT_EQ(cmd.ext_fields.size(), 2u);
  EXPECT_FALSE(cmd.remark.has_value());
  // A second extFields object replaces the first, as a Java map field would.
  cmd = decode_ok(R"({"extFields":{"a":"1"},"extFields":{"b":"2"}})");
  EXPECT_FALSE(cmd.ext("a").has_value());
  EXPECT_EQ(cmd.ext("b"), "2");
}

TEST(JsonHeader, NullExtValueDropsTheKey) {
  RemotingCommand cmd = decode_ok(R"({"extFields":{"a":null,"b":"1"}})");
  EXPECT_FALSE(cmd.ext_fields.contains("a"));
  EXPECT_EQ(cmd.ext_fields.size(), 1u);
}

TEST(JsonHeader, DeepNestingInsideTheLimitIsSkipped) {
  std::string json = "{\"deep\":" + std::string(200, '[') + std::string(200, ']') + ",\"code\":7}";
  EXPECT_EQ(decode_ok(json).code, 7);
}

TEST(JsonHeader, MalformedInputsAreErrors) {
  const char* cases[] = {
      "",
      "   ",
      "{",
      "[]",
      "null",
      R"({"code":1)",
      R"({"code":})",
      R"({"code":1,})",
      R"({"code" 1})",
      R"({code:1})",
      R"({"code":1 "flag":0})",
      R"({"code":1.5})",
      R"({"code":1e2})",
      R"({"code":01})",
      R"({"code":-})",
      R"({"code":99999999999})",
      R"({"code":2147483648})",
      R"({"code":true})",
      R"({"code":"abc"})",
      R"({"opaque":[1]})",
      R"({"remark":5})",
      R"({"remark":true})",
      R"({"extFields":[1]})",
      R"({"extFields":"a"})",
      R"({"extFields":{"a":{}}})",
      R"({"extFields":{"a":["x"]}})",
      R"({"extFields":{"a":"b",}})",
      R"({"extFields":{"a" "b"}})",
      R"({"extFields":{1:"b"}})",
      R"({"extFields":{"a":tru}})",
      R"({"remark":"\x"})",
      R"({"remark":"\u12"})",
      R"({"remark":"\u12G4"})",
      R"({"remark":"abc})",
      R"({"remark":"abc\)",
      "{\"remark\":\"a\nb\"}",  // raw control character
      "{\"remark\":\"a\x01" "b\"}",
      "{\"remark\":\"\\n\x01" "b\"}",  // raw control character after an escape
      R"({} x)",
      R"({}})",
      R"({"a":tru})",
      R"({"a":nul})",
      R"({"a":[1,]})",
      R"({"a":[1 2]})",
      R"({"a":{"b"}})",
      R"({"a":{"b":1,}})",
      R"({"a":])",
      R"({"a":-})",
      R"({"a":1.})",
      R"({"a":1e})",
      R"({"a":"\uD83D\u12"})",
  };
  for (const char* json : cases) {
    Status st = decode_err(json);
    EXPECT_FALSE(st.is_ok()) << "accepted: " << json;
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << json;
    EXPECT_NE(st.message().find("malformed JSON header at offset "), std::string::npos) << st.message();
  }
}

TEST(JsonHeader, ErrorsNameTheOffsetAndTheProblem) {
  EXPECT_EQ(decode_err(R"({"code" 1})").message(), "malformed JSON header at offset 8: expected ':' after object key");
  EXPECT_EQ(decode_err(R"({"code":"abc"})").message(),
            "malformed JSON header at offset 8: field 'code' is not an int32: 'abc'");
  EXPECT_EQ(decode_err(R"({"remark":"\q"})").message(),
            "malformed JSON header at offset 11: invalid escape sequence in string");
  EXPECT_EQ(decode_err(R"({"extFields":{"a":[]}})").message(),
            "malformed JSON header at offset 18: extFields values must be strings, numbers or booleans");
}

TEST(JsonHeader, NestingBeyondTheLimitIsAnErrorNotACrash) {
  std::string json = "{\"deep\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  Status st = decode_err(json);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("nested deeper than 256"), std::string::npos) << st.message();
}

TEST(JsonHeader, EncodesJavaStyleGolden) {
  RemotingCommand cmd;
  cmd.code = 310;
  cmd.version = 409;
  cmd.opaque = 7;
  cmd.set_ext("a", "g1");
  cmd.set_ext("e", "3");
  std::string out;
  encode_json_header(cmd, &out);
  EXPECT_EQ(out,
            R"({"code":310,"extFields":{"a":"g1","e":"3"},"flag":0,"language":"JAVA","opaque":7,)"
            R"("serializeTypeCurrentRPC":"JSON","version":409})");

  RemotingCommand response;
  response.code = -1;
  response.flag = 1;
  response.opaque = -5;
  response.language = LanguageCode::kCpp;
  response.remark = std::string("q\"b\\n\n\x01\x1f/\xC3\xA9", 11);
  out.clear();
  encode_json_header(response, &out);
  EXPECT_EQ(out,
            R"({"code":-1,"flag":1,"language":"CPP","opaque":-5,"remark":"q\"b\\n\n\u0001\u001f/)"
            "\xC3\xA9"
            R"(","serializeTypeCurrentRPC":"JSON","version":0})");

  response.remark = "";
  out.clear();
  encode_json_header(response, &out);
  EXPECT_NE(out.find(R"("remark":"")"), std::string::npos) << out;
}

TEST(JsonHeader, AppendJsonStringEscapesEveryControlCharacter) {
  for (int c = 0; c < 0x20; ++c) {
    std::string out;
    append_json_string(std::string(1, static_cast<char>(c)), &out);
    RemotingCommand cmd = decode_ok("{\"remark\":" + out + "}");
    EXPECT_EQ(*cmd.remark, std::string(1, static_cast<char>(c))) << c;
    EXPECT_EQ(out.find(static_cast<char>(c)), std::string::npos) << "raw control char " << c;
  }
}

TEST(JsonHeader, RandomRoundTrips) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  auto random_string = [&rng]() {
    std::string s(rng() % 24, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    return s;
  };
  for (int i = 0; i < 2000; ++i) {
    RemotingCommand cmd;
    cmd.code = static_cast<int32_t>(rng());
    cmd.language = language_from_code(rng() % 14);
    cmd.version = static_cast<int32_t>(rng());
    cmd.opaque = static_cast<int32_t>(rng());
    cmd.flag = static_cast<int32_t>(rng() % 4);
    if (rng() % 2) cmd.remark = random_string();
    int n = static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) cmd.set_ext(random_string(), random_string());
    std::string json;
    encode_json_header(cmd, &json);
    RemotingCommand back;
    Status st = decode_json_header(json, &back);
    ASSERT_TRUE(st.is_ok()) << st.to_string() << " json: " << json;
    ASSERT_EQ(back, cmd) << "json: " << json;
  }
}

}  // namespace
}  // namespace holdfast::remoting
