// Sync points: named places where threads hand work to each other (before and after an
// fdatasync, an append, a dispatch pass, an index write, a checkpoint). A crash test can turn on
// scheduling noise at them, random yields and short sleeps drawn from a seeded generator, so that
// rare interleavings happen often and a failing seed plus its noise level replays them often
// enough to debug. Disabled (the default, and always in production), a point costs one relaxed
// atomic load.
#pragma once

#include <atomic>
#include <cstdint>

namespace holdfast::sync_point {

// How much noise a point makes when it is enabled. Spins keep the processor (cheap on a loaded
// machine, and they shift threads running on other cores against each other); yields and sleeps
// let other threads run first, and cost a time slice when the machine is busy.
enum class Noise : int {
  kOff = 0,
  kLight = 1,   // a quarter of the hits spin 1-10 us; one in 64 yields
  kMedium = 2,  // as kLight, and one hit in 256 sleeps 1-100 us
  kHeavy = 3,   // half the hits spin 1-50 us; one in 8 yields; one in 32 sleeps 1-1000 us
};

// Turns noise on for the whole process (all threads) with a new seed. Each thread draws from its
// own generator, seeded from `seed`, the order in which threads first reach a point since this
// call, and the point's name; so one seed gives the same decisions to the same thread roles.
// Call it while no noisy thread is running the previous seed (between crash rounds).
void enable(uint64_t seed, Noise noise);
void disable();

// Reads the noise level from the environment variable `name` ("0".."3"; unset or "0" = off) and
// enables it with `seed`, or disables noise. Returns the level in effect.
Noise enable_from_env(const char* name, uint64_t seed);

// The environment variable the crash tests read (HOLDFAST_CRASH_NOISE).
inline constexpr const char* kCrashNoiseEnv = "HOLDFAST_CRASH_NOISE";

namespace detail {
extern std::atomic<int> g_noise;  // a Noise value
void hit(const char* name);
}  // namespace detail

inline bool enabled() { return detail::g_noise.load(std::memory_order_relaxed) != 0; }

}  // namespace holdfast::sync_point

// Marks a hand-over point. `name` must be a string literal ("subsystem.what.before").
#define HF_SYNC_POINT(name)                                 \
  do {                                                      \
    if (::holdfast::sync_point::enabled()) [[unlikely]] {   \
      ::holdfast::sync_point::detail::hit(name);            \
    }                                                       \
  } while (0)
