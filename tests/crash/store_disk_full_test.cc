// A real full disk: the store runs on an 8 MiB tmpfs until a put fails for lack of space, and the
// test checks that the rejection is clean (not a fence), that nothing acknowledged is damaged,
// that puts resume by themselves once space is freed, and that a restart keeps everything.
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "env/env.h"
#include "storage/message_store.h"
#include "storage/store_test_util.h"

namespace holdfast {
namespace {

using testing_util::make_message;
using testing_util::view_of;

constexpr const char* kTopic = "disk_full";
constexpr int kQueues = 2;
constexpr size_t kBodySize = 4096;

std::string body_of(int i) {
  std::string b = "m" + std::to_string(i) + "-";
  while (b.size() < kBodySize) b.push_back(static_cast<char>('a' + (b.size() * 13 + i) % 26));
  return b;
}

std::string key_of(int i) { return "k" + std::to_string(i); }

// A message the store acknowledged, with the record bytes it returned right after the put.
struct Acked {
  int i = 0;
  PutResult result;
  std::string record;
};

// Mounts made after this call live in a mount namespace of this process only, so a test that
// dies (an HF_CHECK abort) cannot leave a tmpfs mounted on the machine. Needs a single-threaded
// process (true between tests: every store is destroyed in TearDown); without it, TearDown's
// umount is the only cleanup.
void enter_private_mount_namespace() {
  static bool done = false;
  if (done) return;
  done = true;
  if (::unshare(CLONE_NEWNS) != 0) {
    std::printf("note: unshare(CLONE_NEWNS) failed (%s); mounts are visible system-wide\n", std::strerror(errno));
    return;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::printf("note: making mounts private failed (%s)\n", std::strerror(errno));
  }
}

class StoreDiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_disk_full_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    mount_dir_ = tmpl;
    enter_private_mount_namespace();
    if (::mount("tmpfs", mount_dir_.c_str(), "tmpfs", 0, "size=8m") != 0) {
      const int err = errno;
      GTEST_SKIP() << "cannot mount an 8 MiB tmpfs at " << mount_dir_ << " (" << std::strerror(err)
                   << "); the FaultEnv disk-full test covers the logic without a real filesystem";
    }
    mounted_ = true;
    // 3 MiB of someone else's data, freed later to give the store room again.
    filler_ = mount_dir_ + "/filler";
    {
      std::ofstream out(filler_, std::ios::binary);
      const std::string mib(1 << 20, 'f');
      for (int i = 0; i < 3; ++i) out.write(mib.data(), static_cast<std::streamsize>(mib.size()));
      out.flush();
      ASSERT_TRUE(out.good()) << "could not write the 3 MiB filler";
    }
    options_ = testing_util::small_options(mount_dir_ + "/store");
    options_.commit_log_segment_size = 1024 * 1024;
    options_.max_message_size = 64 * 1024;
    options_.consume_queue_units_per_file = 256;
    options_.index.hash_slot_count = 97;
    options_.index.max_index_count = 400;
  }

  void TearDown() override {
    store_.reset();
    if (mounted_ && ::umount2(mount_dir_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << mount_dir_ << ": " << std::strerror(errno);
    }
    std::error_code ec;
    std::filesystem::remove_all(mount_dir_, ec);
  }

  void open_store() {
    auto s = MessageStore::open(Env::posix(), options_);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }

  // The dispatcher is a background thread: wait (bounded, so a stuck dispatcher fails with a
  // message instead of hanging) until everything confirmed is in the consume queues.
  void wait_dispatched() {
    const int64_t target = store_->confirmed_offset();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (store_->dispatched_offset() < target) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "dispatch stuck at " << store_->dispatched_offset() << " of " << target;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Puts message i; on kOk remembers it with the record bytes read straight back.
  PutResult put(int i) {
    PutResult r = store_->put(make_message(kTopic, i % kQueues, body_of(i), key_of(i)));
    if (r.status == PutStatus::kOk) {
      auto rec = store_->read_record(r.physical_offset);
      EXPECT_TRUE(rec.is_ok()) << "acknowledged message " << i << " not readable: " << rec.status().to_string();
      acked_.push_back(Acked{i, r, rec.is_ok() ? *rec : std::string()});
    }
    return r;
  }

  // Every acknowledged message is byte-identical to what was read after its put, the queues hold
  // exactly the acknowledged messages (densely, nothing rejected resurfaces), and keys resolve.
  void verify_all_acknowledged(const char* when) {
    SCOPED_TRACE(when);
    std::map<int64_t, const Acked*> by_physical;
    std::vector<int64_t> per_queue(kQueues, 0);
    for (const Acked& a : acked_) {
      auto rec = store_->read_record(a.result.physical_offset);
      ASSERT_TRUE(rec.is_ok()) << "message " << a.i << ": " << rec.status().to_string();
      ASSERT_EQ(*rec, a.record) << "message " << a.i << " changed";
      RecordView v = view_of(*rec);
      ASSERT_EQ(v.body, body_of(a.i));
      ASSERT_EQ(v.queue_offset, a.result.queue_offset);
      ASSERT_EQ(static_cast<int64_t>(rec->size()), a.result.wrote_bytes);
      by_physical[a.result.physical_offset] = &a;
      ++per_queue[a.i % kQueues];
    }
    ASSERT_NO_FATAL_FAILURE(wait_dispatched());
    for (int q = 0; q < kQueues; ++q) {
      ASSERT_EQ(store_->max_offset_in_queue(kTopic, q), per_queue[q]) << "queue " << q;
      int64_t next = 0;
      while (next < per_queue[q]) {
        GetResult g = store_->get_messages(kTopic, q, next, 256, 16 << 20);
        ASSERT_EQ(g.status, GetStatus::kFound) << "queue " << q << " at " << next << ": "
                                               << get_status_name(g.status);
        for (size_t k = 0; k < g.records.size(); ++k) {
          ASSERT_EQ(g.queue_offsets[k], next) << "queue " << q << " is not dense";
          auto it = by_physical.find(g.physical_offsets[k]);
          ASSERT_NE(it, by_physical.end()) << "queue " << q << " offset " << next
                                           << " holds a message that was never acknowledged";
          ASSERT_EQ(g.records[k], it->second->record);
          ++next;
        }
      }
    }
    for (const Acked* a : {&acked_.front(), &acked_.back()}) {
      auto found = store_->query_by_key(kTopic, key_of(a->i), 8, 0, std::numeric_limits<int64_t>::max());
      ASSERT_TRUE(found.is_ok()) << found.status().to_string();
      ASSERT_EQ(found->size(), 1u) << "key " << key_of(a->i);
      EXPECT_EQ((*found)[0], a->record);
    }
  }

  std::string mount_dir_;
  std::string filler_;
  bool mounted_ = false;
  StoreOptions options_;
  std::unique_ptr<MessageStore> store_;
  std::vector<Acked> acked_;
};

TEST_F(StoreDiskFullTest, FullFilesystemRejectsCleanlyAndResumesWhenSpaceReturns) {
  ASSERT_NO_FATAL_FAILURE(open_store());
  // 8 MiB - 3 MiB of filler leaves room for about four 1 MiB segments: the disk fills in < 2000 puts.
  int next = 0;
  PutResult rejected;
  for (; next < 4000; ++next) {
    PutResult r = put(next);
    if (r.status != PutStatus::kOk) {
      rejected = r;
      ++next;
      break;
    }
  }
  ASSERT_FALSE(acked_.empty());
  ASSERT_NE(rejected.status, PutStatus::kOk) << "8 MiB filesystem never filled after " << next << " puts";
  std::printf("disk full after %zu acknowledged puts: %s %s\n", acked_.size(),
              put_status_name(rejected.status), rejected.remark.c_str());
  EXPECT_EQ(rejected.status, PutStatus::kServiceNotAvailable);
  EXPECT_TRUE(rejected.remark.find("disk full") != std::string::npos ||
              rejected.remark.find("No space") != std::string::npos)
      << rejected.remark;
  EXPECT_FALSE(rejected.stored());
  EXPECT_FALSE(store_->fenced()) << "a full disk is a rejection, not a fence: " << store_->fence_status().to_string();

  // Still full: a retry is rejected the same way and changes nothing.
  PutResult again = put(next++);
  EXPECT_EQ(again.status, PutStatus::kServiceNotAvailable) << again.remark;
  EXPECT_FALSE(store_->fenced());
  ASSERT_NO_FATAL_FAILURE(verify_all_acknowledged("while the disk is full"));

  // Space returns: puts succeed again without a restart, and queue offsets continue densely.
  std::error_code ec;
  ASSERT_TRUE(std::filesystem::remove(filler_, ec)) << ec.message();
  const size_t before = acked_.size();
  for (int k = 0; k < 200; ++k) {
    const int i = next++;
    PutResult r = put(i);
    ASSERT_EQ(r.status, PutStatus::kOk) << "put " << k << " after freeing space: " << put_status_name(r.status)
                                        << " " << r.remark;
  }
  EXPECT_EQ(acked_.size(), before + 200);
  EXPECT_FALSE(store_->fenced());
  ASSERT_NO_FATAL_FAILURE(verify_all_acknowledged("after space returned"));

  // A clean restart keeps everything acknowledged and nothing that was rejected.
  ASSERT_TRUE(store_->shutdown().is_ok());
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  EXPECT_FALSE(store_->recovery_info().crashed);
  ASSERT_NO_FATAL_FAILURE(verify_all_acknowledged("after restart"));
  PutResult after = put(next++);
  EXPECT_EQ(after.status, PutStatus::kOk) << after.remark;
}

// Fills every last byte while the commit log still has a preallocated segment with room: puts
// keep landing in the log, but the consume queues, the index and the checkpoint cannot grow. The
// store must not fence or die; acknowledged messages stay readable by offset, and once space
// returns the dispatcher catches up so consumers see every one of them, densely.
TEST_F(StoreDiskFullTest, DispatchBlockedByAFullDiskCatchesUpWhenSpaceReturns) {
  options_.consume_queue_units_per_file = 64;  // a new queue file every 64 messages per queue
  ASSERT_NO_FATAL_FAILURE(open_store());
  int next = 0;
  // Until the commit log has rolled into (and preallocated) its second segment.
  while (acked_.empty() || acked_.back().result.physical_offset < options_.commit_log_segment_size) {
    PutResult r = put(next++);
    ASSERT_EQ(r.status, PutStatus::kOk) << r.remark;
  }
  ASSERT_NO_FATAL_FAILURE(wait_dispatched());
  const std::string filler2 = mount_dir_ + "/filler2";
  {
    std::ofstream out(filler2, std::ios::binary);
    const std::string chunk(4096, 'g');
    while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && out.flush()) {
    }
  }
  // Room in the log for ~200 more 4 KiB messages; none for new queue, index or checkpoint pages.
  int ok = 0, rejected = 0;
  for (int k = 0; k < 150; ++k) {
    PutResult r = put(next++);
    if (r.status == PutStatus::kOk) {
      ++ok;
    } else {
      ++rejected;
      EXPECT_EQ(r.status, PutStatus::kServiceNotAvailable);
      EXPECT_TRUE(r.remark.find("disk full") != std::string::npos || r.remark.find("No space") != std::string::npos)
          << r.remark;
    }
    ASSERT_FALSE(store_->fenced()) << "put " << k << " on a full disk fenced the store: "
                                   << store_->fence_status().to_string();
  }
  std::printf("on a completely full disk: %d puts acknowledged, %d rejected; dispatched %lld of %lld\n", ok,
              rejected, static_cast<long long>(store_->dispatched_offset()),
              static_cast<long long>(store_->confirmed_offset()));
  // Every acknowledged message is readable by offset right now (reads do not need the queues).
  for (const Acked& a : acked_) {
    auto rec = store_->read_record(a.result.physical_offset);
    ASSERT_TRUE(rec.is_ok()) << "message " << a.i << ": " << rec.status().to_string();
    ASSERT_EQ(*rec, a.record);
  }

  // Space returns: the dispatcher catches up by itself and puts succeed again.
  std::error_code ec;
  ASSERT_TRUE(std::filesystem::remove(filler2, ec)) << ec.message();
  ASSERT_TRUE(std::filesystem::remove(filler_, ec)) << ec.message();
  for (int k = 0; k < 20; ++k) {
    PutResult r = put(next++);
    ASSERT_EQ(r.status, PutStatus::kOk) << r.remark;
  }
  ASSERT_NO_FATAL_FAILURE(verify_all_acknowledged("after space returned"));
  ASSERT_TRUE(store_->shutdown().is_ok());
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(open_store());
  ASSERT_NO_FATAL_FAILURE(verify_all_acknowledged("after restart"));
}

}  // namespace
}  // namespace holdfast
