// Sync points: the noise generator behind HF_SYNC_POINT (see sync_point.h).
#include "base/sync_point.h"

#include <chrono>
#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>

namespace holdfast::sync_point {

namespace detail {
std::atomic<int> g_noise{0};
}  // namespace detail

namespace {

std::atomic<uint64_t> g_seed{0};
// Bumped by every enable(): a thread whose generator belongs to an older generation reseeds.
std::atomic<uint64_t> g_generation{0};
std::atomic<uint64_t> g_next_thread{0};

struct ThreadState {
  uint64_t generation = UINT64_MAX;
  std::mt19937_64 rng;
};

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t name_hash(std::string_view name) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  return h;
}

// Busy-waits: the thread keeps its processor, unlike a yield or a sleep.
void spin(uint64_t micros) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

void enable(uint64_t seed, Noise noise) {
  g_seed.store(seed, std::memory_order_relaxed);
  g_next_thread.store(0, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  detail::g_noise.store(static_cast<int>(noise), std::memory_order_release);
}

void disable() { detail::g_noise.store(0, std::memory_order_release); }

Noise enable_from_env(const char* name, uint64_t seed) {
  const char* value = std::getenv(name);
  const int level = value == nullptr ? 0 : std::atoi(value);
  if (level <= 0) {
    disable();
    return Noise::kOff;
  }
  const Noise noise = static_cast<Noise>(level > 3 ? 3 : level);
  enable(seed, noise);
  return noise;
}

namespace detail {

void hit(const char* name) {
  thread_local ThreadState state;
  const uint64_t generation = g_generation.load(std::memory_order_acquire);
  if (state.generation != generation) {
    state.generation = generation;
    const uint64_t ordinal = g_next_thread.fetch_add(1, std::memory_order_relaxed);
    state.rng.seed(mix(g_seed.load(std::memory_order_relaxed) ^ mix(ordinal + 1)));
  }
  // The point's name perturbs the draw so that two points hit in a row decide independently.
  const uint64_t r = mix(state.rng() ^ name_hash(name));
  const int noise = g_noise.load(std::memory_order_relaxed);
  const uint64_t roll = r & 0xffff;          // what to do
  const uint64_t amount = (r >> 16) & 0x3ff;  // for how long
  if (noise >= static_cast<int>(Noise::kHeavy)) {
    if (roll % 32 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(1 + amount % 1000));
    } else if (roll % 8 == 1) {
      std::this_thread::yield();
    } else if (roll % 2 == 0) {
      spin(1 + amount % 50);
    }
    return;
  }
  if (noise >= static_cast<int>(Noise::kMedium) && roll % 256 == 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(1 + amount % 100));
  } else if (roll % 64 == 1) {
    std::this_thread::yield();
  } else if (roll % 4 == 2) {
    spin(1 + amount % 10);
  }
}

}  // namespace detail

}  // namespace holdfast::sync_point
