// Delay levels on a fake clock: parking, the due time the dispatcher stores as the tags code, the
// service delivering each message once and never before its due time, and its persisted progress
// across a restart.
#include "broker/schedule_message_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "env/fault_env.h"
#include "storage/message_format.h"
#include "storage/store_test_util.h"

namespace holdfast::broker {
namespace {

constexpr char kOffsetPath[] = "/store/config/delayOffset.json";
const std::string kSchedule(kScheduleTopicName);

class ScheduleMessageServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { open_store(); }

  void open_store() {
    auto opts = testing_util::small_options("/store");
    opts.delay_level_ms = {1000, 5000, 10000};
    auto s = MessageStore::open(&env_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  std::unique_ptr<ScheduleMessageService> make_service() {
    ScheduleMessageServiceOptions o;
    o.delay_level_ms = {1000, 5000, 10000};
    o.offset_path = kOffsetPath;
    auto service = std::make_unique<ScheduleMessageService>(&env_, store_.get(), o);
    EXPECT_TRUE(service->load().is_ok());
    return service;
  }
  // Puts a message for `topic`/`queue` with DELAY = level, parked as the send path parks it.
  PutResult put_delayed(const std::string& topic, int32_t queue, int32_t level, const std::string& body) {
    MessageToStore m = testing_util::make_message(topic, queue, body, "", "TagA");
    append_property(&m.properties, "DELAY", std::to_string(level));
    MessageProperties properties(m.properties);
    EXPECT_TRUE(park_delayed_message(&m, &properties, 3));
    m.properties = properties.encode();
    PutResult r = store_->put(std::move(m));
    EXPECT_EQ(r.status, PutStatus::kOk) << r.remark;
    store_->wait_dispatched(store_->confirmed_offset());  // the service reads consume-queue units
    return r;
  }
  std::vector<std::string> records(const std::string& topic, int32_t queue) {
    store_->wait_dispatched(store_->confirmed_offset());
    return store_->get_messages(topic, queue, 0, 64).records;
  }

  FaultEnv env_;
  std::unique_ptr<MessageStore> store_;
};

// park_delayed_message on a message's own properties, encoded back as the send path does.
bool park(MessageToStore* m, int32_t level_count) {
  MessageProperties properties(m->properties);
  const bool parked = park_delayed_message(m, &properties, level_count);
  m->properties = properties.encode();
  return parked;
}

TEST(ParkDelayedMessage, MovesToTheLevelQueueAndKeepsTheDestination) {
  MessageToStore m = testing_util::make_message("TopicA", 3, "x");
  EXPECT_FALSE(park(&m, 18));  // no DELAY
  append_property(&m.properties, "DELAY", "40");
  ASSERT_TRUE(park(&m, 18));
  EXPECT_EQ(m.topic, kSchedule);
  EXPECT_EQ(m.queue_id, 17);  // clamped to level 18
  EXPECT_EQ(find_property(m.properties, "DELAY"), "18");
  EXPECT_EQ(find_property(m.properties, "REAL_TOPIC"), "TopicA");
  EXPECT_EQ(find_property(m.properties, "REAL_QID"), "3");
  EXPECT_EQ(parse_properties(m.properties).size(), MessageProperties(m.properties).entries().size());

  MessageToStore half = testing_util::make_message("TopicA", 0, "x");
  append_property(&half.properties, "DELAY", "2");
  half.sys_flag = format::kTransactionPrepared;
  EXPECT_FALSE(park(&half, 18));
  MessageToStore zero = testing_util::make_message("TopicA", 0, "x");
  append_property(&zero.properties, "DELAY", "0");
  EXPECT_FALSE(park(&zero, 18));
  for (const char* bad : {"-1", "x", "1x", ""}) {
    MessageToStore m2 = testing_util::make_message("TopicA", 0, "x");
    append_property(&m2.properties, "DELAY", bad);
    EXPECT_FALSE(park(&m2, 18)) << bad;
  }
}

TEST_F(ScheduleMessageServiceTest, TheUnitTagsCodeIsTheDueTime) {
  PutResult r = put_delayed("TopicA", 1, 2, "m");
  store_->wait_dispatched(store_->confirmed_offset());
  std::vector<int64_t> codes;
  store_->get_messages(kSchedule, 1, 0, 8, 1 << 20, [&](int64_t code) {
    codes.push_back(code);
    return true;
  });
  ASSERT_EQ(codes.size(), 1u);
  auto got = records(kSchedule, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(codes[0], testing_util::view_of(got[0]).store_timestamp + 5000);
  (void)r;
}

TEST_F(ScheduleMessageServiceTest, DeliversEachMessageOnceAndNeverEarly) {
  const int64_t t0 = env_.now_ms();
  put_delayed("TopicA", 2, 1, "one");
  put_delayed("TopicA", 0, 2, "two");
  auto service = make_service();
  store_->wait_dispatched(store_->confirmed_offset());

  EXPECT_EQ(service->run_once(), 0);
  EXPECT_EQ(service->next_due_ms(), t0 + 1000);
  env_.advance_clock(999);
  EXPECT_EQ(service->run_once(), 0);
  EXPECT_TRUE(records("TopicA", 2).empty());

  env_.advance_clock(1);
  EXPECT_EQ(service->run_once(), 1);
  auto delivered = records("TopicA", 2);
  ASSERT_EQ(delivered.size(), 1u);
  RecordView v = testing_util::view_of(delivered[0]);
  EXPECT_EQ(v.body, "one");
  EXPECT_GE(v.store_timestamp, t0 + 1000);
  EXPECT_EQ(find_property(v.properties, "DELAY"), "");
  EXPECT_EQ(find_property(v.properties, "TAGS"), "TagA");
  EXPECT_EQ(find_property(v.properties, "REAL_TOPIC"), "TopicA");
  EXPECT_EQ(v.born_timestamp, 1700000000000);
  EXPECT_EQ(service->offset_of(1), 1);
  EXPECT_EQ(service->offset_of(2), 0);

  // Nothing twice.
  EXPECT_EQ(service->run_once(), 0);
  EXPECT_EQ(records("TopicA", 2).size(), 1u);

  env_.advance_clock(3999);
  EXPECT_EQ(service->run_once(), 0);
  EXPECT_TRUE(records("TopicA", 0).empty());
  env_.advance_clock(1);
  EXPECT_EQ(service->run_once(), 1);
  ASSERT_EQ(records("TopicA", 0).size(), 1u);
  EXPECT_GE(testing_util::view_of(records("TopicA", 0)[0]).store_timestamp, t0 + 5000);
}

TEST_F(ScheduleMessageServiceTest, ALaterMessageWaitsBehindItsLevelsHead) {
  const int64_t t0 = env_.now_ms();
  put_delayed("TopicA", 0, 1, "first");
  env_.advance_clock(500);
  put_delayed("TopicA", 0, 1, "second");
  auto service = make_service();
  env_.advance_clock(500);  // t0 + 1000: only the first is due
  EXPECT_EQ(service->run_once(), 1);
  EXPECT_EQ(service->next_due_ms(), t0 + 1500);
  env_.advance_clock(500);
  EXPECT_EQ(service->run_once(), 1);
  auto got = records("TopicA", 0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(testing_util::view_of(got[0]).body, "first");
  EXPECT_EQ(testing_util::view_of(got[1]).body, "second");
}

TEST_F(ScheduleMessageServiceTest, ProgressIsPersistedAndARestartResumes) {
  put_delayed("TopicA", 0, 1, "a");
  put_delayed("TopicA", 0, 1, "b");
  env_.advance_clock(1000);
  {
    auto service = make_service();
    EXPECT_EQ(service->run_once(), 2);
    ASSERT_TRUE(service->stop().is_ok());  // persists
  }
  ASSERT_TRUE(env_.file_exists(kOffsetPath));
  put_delayed("TopicA", 0, 1, "c");
  env_.advance_clock(1000);
  auto service = make_service();
  EXPECT_EQ(service->offset_of(1), 2);
  EXPECT_EQ(service->run_once(), 1);  // only "c"
  auto got = records("TopicA", 0);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(testing_util::view_of(got[2]).body, "c");
}

TEST_F(ScheduleMessageServiceTest, UnpersistedProgressMeansRedeliveryNeverLoss) {
  put_delayed("TopicA", 0, 1, "a");
  env_.advance_clock(1000);
  {
    auto service = make_service();
    ASSERT_TRUE(service->persist().is_ok());  // offset 0 on disk
    EXPECT_EQ(service->run_once(), 1);
    // A crash: the process dies before the next persist.
    env_.set_frozen(true);
    env_.crash(CrashMode::kDropUnsynced);
    service.reset();  // its persist on stop fails: the "disk" is frozen
    store_.reset();
    env_.set_frozen(false);
  }
  open_store();
  auto service = make_service();
  EXPECT_EQ(service->offset_of(1), 0);
  EXPECT_EQ(service->run_once(), 1);
  auto got = records("TopicA", 0);
  ASSERT_EQ(got.size(), 2u);  // the duplicate the lost progress implies
  EXPECT_EQ(testing_util::view_of(got[0]).body, "a");
  EXPECT_EQ(testing_util::view_of(got[1]).body, "a");
}

TEST_F(ScheduleMessageServiceTest, ReadsTheJavaFileLayout) {
  ASSERT_TRUE(env_.create_dirs("/store/config").is_ok());
  auto file = env_.open_file(kOffsetPath, OpenMode::kCreateIfMissing);
  ASSERT_TRUE(file.is_ok());
  const std::string text = "{\"offsetTable\":{1:7,3:2}}";
  ASSERT_TRUE((*file)->write_at(0, text.data(), text.size()).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  auto service = make_service();
  EXPECT_EQ(service->offset_of(1), 7);
  EXPECT_EQ(service->offset_of(2), 0);
  EXPECT_EQ(service->offset_of(3), 2);
}

TEST_F(ScheduleMessageServiceTest, ThreadDeliversOnItsOwn) {
  put_delayed("TopicA", 0, 1, "a");
  env_.advance_clock(1000);
  auto service = make_service();
  service->start();
  for (int i = 0; i < 2000 && records("TopicA", 0).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(service->stop().is_ok());
  EXPECT_EQ(records("TopicA", 0).size(), 1u);
  EXPECT_EQ(service->offset_of(1), 1);
}

}  // namespace
}  // namespace holdfast::broker
