// The disk-space guard: whether appends are refused because the data directory's file system is
// nearly full (EngineOptions::min_free_space, min_free_space_percent; docs/durability.md, "A full
// disk").
//
// The decision is pure (reserve_bytes, space_state): free and total bytes in, a state out, so it
// is tested without a disk. SpaceGuard holds the last decision for the append path: samples come
// from the maintenance thread about every kSpaceCheckIntervalMs, from the writer after a write
// failed with ENOSPC, and from the one append that used up half of the headroom the last sample
// measured (free minus reserve, at least kMinCheckStepBytes), so that a fast producer cannot write
// through the reserve between two timed samples. An append otherwise costs an atomic load and a
// fetch_sub, never a syscall.
//
// Logging, once per transition (never per append): WARN when free space falls below twice the
// reserve, ERROR when appends start being refused, INFO when they resume. There is no
// hysteresis: appends resume as soon as free space is back at the reserve.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <ringlog/error.h>

#include "io/env.h"

namespace ringlog {

// How often the maintenance thread samples the free space.
inline constexpr std::uint64_t kSpaceCheckIntervalMs = 200;
// Appends re-sample after at most half the headroom, but never more often than every this many
// bytes (so that near the reserve the check does not become a syscall per append).
inline constexpr std::uint64_t kMinCheckStepBytes = 256 * 1024;

// The reserve as configured: either bound may be unset (nullopt: no bound of that kind).
struct SpaceReserve {
  std::optional<std::uint64_t> bytes;
  std::optional<double> percent;  // of the file system's size, 0..50
};

// "" when the reserve is valid (percent, if set, is a number in [0, 50]); otherwise why not.
std::string space_reserve_problem(const SpaceReserve& reserve);

// The reserve in bytes on a file system of `total_bytes`: the smaller of the bounds set; 0 when
// neither is set (no guard).
std::uint64_t reserve_bytes(const SpaceReserve& reserve, std::uint64_t total_bytes);

enum class SpaceState : std::uint8_t {
  kOk,        // at least twice the reserve free (or no reserve)
  kLow,       // below twice the reserve: appends accepted, a warning logged
  kRefusing,  // below the reserve: appends and topic creation refused with kNoSpace
};

SpaceState space_state(std::uint64_t free_bytes, std::uint64_t reserve_bytes);

// "disk space low: 3.1 MiB free on DIR, below the reserve of 4 MiB (--min-free-space); appends
// resume when space is freed"
std::string space_refusal_message(std::uint64_t free_bytes, std::uint64_t reserve_bytes,
                                  const std::string& dir);

// "3.1 MiB", "512 B": sizes in log lines and messages.
std::string format_bytes(std::uint64_t bytes);

// Thread-safe: update from any thread (serialised inside), refusing/refusal from any thread.
class SpaceGuard {
 public:
  SpaceGuard(SpaceReserve reserve, std::string dir);

  // Takes a sample: decides, and logs the transition if the state changed.
  void update(const FsSpace& space);

  // Whether appends are refused now: one atomic load.
  bool refusing() const { return state_.load(std::memory_order_acquire) == SpaceState::kRefusing; }
  // Counts an accepted append of `bytes` against the headroom of the last sample; true for the
  // one append that used up its share: the caller samples now (then update() renews it).
  bool note_append(std::uint64_t bytes) {
    const auto b = static_cast<std::int64_t>(bytes);
    const std::int64_t before = until_check_bytes_.fetch_sub(b, std::memory_order_relaxed);
    return before > 0 && before <= b;
  }
  // The kNoSpace error an append or creation gets while refusing().
  Error refusal() const;

  SpaceState state() const { return state_.load(std::memory_order_acquire); }
  // From the last sample (0 before the first).
  std::uint64_t free_bytes() const { return free_bytes_.load(std::memory_order_relaxed); }
  std::uint64_t reserve() const { return reserve_bytes_.load(std::memory_order_relaxed); }

 private:
  void log_transition(SpaceState from, SpaceState to, std::uint64_t free, std::uint64_t reserve);

  const SpaceReserve config_;
  const std::string dir_;
  std::mutex update_mu_;  // serialises update(): transitions are logged once, in order
  std::atomic<SpaceState> state_{SpaceState::kOk};
  std::atomic<std::uint64_t> free_bytes_{0};
  std::atomic<std::uint64_t> reserve_bytes_{0};
  std::atomic<std::int64_t> until_check_bytes_{INT64_MAX};  // see note_append
};

// How many bytes of appends may go before the next sample: half the headroom above the reserve,
// at least kMinCheckStepBytes; effectively never without a reserve.
std::int64_t bytes_until_check(std::uint64_t free_bytes, std::uint64_t reserve_bytes);

}  // namespace ringlog
