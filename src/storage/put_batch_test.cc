// MessageStore::PutBatch: the puts a thread makes inside one are written as one group when it
// ends, each completes exactly once with its own result, and put() inside one does not wait for it.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "env/fault_env.h"
#include "storage/message_store.h"
#include "storage/store_test_util.h"

namespace holdfast {
namespace {

using testing_util::make_message;

class PutBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = MessageStore::open(&env_, testing_util::small_options("/batch"));
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store_ = std::move(opened).value();
  }
  FaultEnv env_{7};
  std::unique_ptr<MessageStore> store_;
};

TEST_F(PutBatchTest, PutsInsideABatchAreWrittenTogetherAtItsEnd) {
  constexpr int kPuts = 40;
  std::vector<PutResult> results(kPuts);
  std::atomic<int> completed{0};
  const uint64_t syncs_before = store_->fdatasync_count();
  {
    MessageStore::PutBatch batch(store_.get());
    MessageStore::PutBatch nested(store_.get());  // one batch, not two
    for (int i = 0; i < kPuts; ++i) {
      store_->put_async(make_message("Orders", i % 4, "m" + std::to_string(i)), [&, i](const PutResult& r) {
        results[i] = r;
        completed.fetch_add(1);
      });
    }
    EXPECT_EQ(store_->written_offset(), 0) << "nothing is written before the batch ends";
    EXPECT_EQ(completed.load(), 0);
  }
  for (int i = 0; i < 5000 && completed.load() < kPuts; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(completed.load(), kPuts);
  int64_t expected_offset = 0;
  for (int i = 0; i < kPuts; ++i) {
    ASSERT_EQ(results[i].status, PutStatus::kOk) << i << ": " << results[i].remark;
    EXPECT_EQ(results[i].physical_offset, expected_offset) << "records keep the order of the puts";
    EXPECT_EQ(results[i].queue_offset, i / 4);
    expected_offset += results[i].wrote_bytes;
  }
  EXPECT_EQ(store_->flushed_offset(), expected_offset);
  // One group: its bytes are covered by one or two fdatasyncs, not forty.
  EXPECT_LE(store_->fdatasync_count() - syncs_before, 2u);
}

TEST_F(PutBatchTest, PutInsideABatchWritesAtOnceWithWhatIsQueued) {
  std::atomic<int> completed{0};
  MessageStore::PutBatch batch(store_.get());
  store_->put_async(make_message("Orders", 0, "queued"), [&](const PutResult& r) {
    EXPECT_EQ(r.status, PutStatus::kOk);
    completed.fetch_add(1);
  });
  PutResult direct = store_->put(make_message("Orders", 0, "direct"));  // would hang if held
  ASSERT_EQ(direct.status, PutStatus::kOk) << direct.remark;
  EXPECT_EQ(direct.queue_offset, 1) << "the queued put was written first";
  for (int i = 0; i < 5000 && completed.load() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(completed.load(), 1);
}

TEST_F(PutBatchTest, OtherThreadsAreNotHeldByABatch) {
  MessageStore::PutBatch batch(store_.get());
  PutResult other;
  std::thread t([&] { other = store_->put(make_message("Orders", 1, "other thread")); });
  t.join();  // would hang if the batch held other threads' puts
  EXPECT_EQ(other.status, PutStatus::kOk) << other.remark;
}

}  // namespace
}  // namespace holdfast
