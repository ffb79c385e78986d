// Named constants of RocketMQ's IndexFile layout (facts §6.4); the byte table lives in
// docs/format/index.md. All integers are big-endian.
#pragma once

#include <cstdint>

namespace holdfast::index_format {

// Header (40 bytes at offset 0).
inline constexpr int kHeaderSize = 40;
inline constexpr int kBeginTimestampPos = 0;       // int64 ms: store time of entry 1
inline constexpr int kEndTimestampPos = 8;         // int64 ms: newest store time in the file
inline constexpr int kBeginPhysicalOffsetPos = 16;  // int64: physical offset of entry 1
inline constexpr int kEndPhysicalOffsetPos = 24;    // int64: physical offset of the last entry
inline constexpr int kUsedSlotCountPos = 32;        // int32 "hashSlotCount": non-empty slots
inline constexpr int kIndexCountPos = 36;           // int32: next entry index (starts at 1)

// Slot table: hash_slot_count int32 slots right after the header. A slot holds the index of the
// newest entry of its bucket, 0 when empty.
inline constexpr int kSlotSize = 4;

// Entries (20 bytes each) after the slot table. Entry 0 is never used.
inline constexpr int kEntrySize = 20;
inline constexpr int kEntryKeyHashPos = 0;           // int32: abs(hashCode(topic#key))
inline constexpr int kEntryPhysicalOffsetPos = 4;    // int64: commit-log offset of the record
inline constexpr int kEntryTimeDiffPos = 12;         // int32: seconds after beginTimestamp
inline constexpr int kEntryPrevIndexPos = 16;        // int32: previous entry of the bucket, 0 = end
// timeDiff = (storeTimestamp - beginTimestamp) / kTimeDiffUnitMs, clamped to [0, INT32_MAX].
inline constexpr int64_t kTimeDiffUnitMs = 1000;

inline constexpr uint32_t kInvalidIndex = 0;  // empty slot / end of chain
inline constexpr uint32_t kFirstIndex = 1;    // indexCount of an empty file

// RocketMQ defaults (maxHashSlotNum, maxIndexNum) and the query cap (maxMsgsNumBatch).
inline constexpr uint32_t kDefaultHashSlotCount = 5'000'000;
inline constexpr uint32_t kDefaultMaxIndexCount = 20'000'000;
inline constexpr int kMaxQueryResults = 64;

// Index key = topic + '#' + key.
inline constexpr char kKeySeparator = '#';

// File name: yyyyMMddHHmmssSSS, local time of creation.
inline constexpr int kFileNameLength = 17;

// The slot area is written back in units of this many bytes (dirty-page tracking).
inline constexpr uint32_t kPageSize = 4096;

constexpr uint64_t slot_position(uint32_t slot) {
  return kHeaderSize + static_cast<uint64_t>(slot) * kSlotSize;
}
constexpr uint64_t entry_position(uint32_t hash_slot_count, uint32_t index) {
  return kHeaderSize + static_cast<uint64_t>(hash_slot_count) * kSlotSize +
         static_cast<uint64_t>(index) * kEntrySize;
}
// Every index file has exactly this size (entries 0 .. max_index_count-1).
constexpr uint64_t file_size(uint32_t hash_slot_count, uint32_t max_index_count) {
  return entry_position(hash_slot_count, max_index_count);
}

static_assert(file_size(kDefaultHashSlotCount, kDefaultMaxIndexCount) == 420'000'040);
static_assert(kPageSize % kSlotSize == 0 && kHeaderSize % kSlotSize == 0,
              "a slot never straddles a page");

}  // namespace holdfast::index_format
