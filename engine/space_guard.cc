#include "engine/space_guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "io/log.h"

namespace ringlog {

std::string space_reserve_problem(const SpaceReserve& reserve) {
  if (reserve.percent && !(*reserve.percent >= 0 && *reserve.percent <= 50))
    return "min_free_space_percent must be in [0, 50]";
  return "";
}

std::uint64_t reserve_bytes(const SpaceReserve& reserve, std::uint64_t total_bytes) {
  if (!reserve.bytes && !reserve.percent) return 0;
  std::uint64_t out = reserve.bytes.value_or(UINT64_MAX);
  if (reserve.percent) {
    const double share = std::ceil(static_cast<double>(total_bytes) * *reserve.percent / 100.0);
    out = std::min(out, static_cast<std::uint64_t>(share));
  }
  return out;
}

SpaceState space_state(std::uint64_t free_bytes, std::uint64_t reserve_bytes) {
  if (free_bytes < reserve_bytes) return SpaceState::kRefusing;
  if (free_bytes / 2 < reserve_bytes) return SpaceState::kLow;  // free < 2 * reserve
  return SpaceState::kOk;
}

std::int64_t bytes_until_check(std::uint64_t free_bytes, std::uint64_t reserve_bytes) {
  if (reserve_bytes == 0) return INT64_MAX;
  const std::uint64_t headroom = free_bytes > reserve_bytes ? free_bytes - reserve_bytes : 0;
  const std::uint64_t step = std::max(headroom / 2, kMinCheckStepBytes);
  return static_cast<std::int64_t>(std::min<std::uint64_t>(step, INT64_MAX));
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  if (value == std::floor(value))
    std::snprintf(text, sizeof text, "%.0f %s", value, kUnits[unit]);
  else
    std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string space_refusal_message(std::uint64_t free_bytes, std::uint64_t reserve_bytes,
                                  const std::string& dir) {
  return "disk space low: " + format_bytes(free_bytes) + " free on " + dir +
         ", below the reserve of " + format_bytes(reserve_bytes) +
         " (--min-free-space); appends resume when space is freed";
}

SpaceGuard::SpaceGuard(SpaceReserve reserve, std::string dir)
    : config_(reserve), dir_(std::move(dir)) {}

void SpaceGuard::update(const FsSpace& space) {
  std::lock_guard lock(update_mu_);
  const std::uint64_t reserve = reserve_bytes(config_, space.total_bytes);
  const SpaceState next = space_state(space.free_bytes, reserve);
  free_bytes_.store(space.free_bytes, std::memory_order_relaxed);
  reserve_bytes_.store(reserve, std::memory_order_relaxed);
  until_check_bytes_.store(bytes_until_check(space.free_bytes, reserve), std::memory_order_relaxed);
  const SpaceState before = state_.exchange(next, std::memory_order_acq_rel);
  if (before != next) log_transition(before, next, space.free_bytes, reserve);
}

Error SpaceGuard::refusal() const {
  return Error(Errc::kNoSpace, space_refusal_message(free_bytes(), reserve(), dir_));
}

void SpaceGuard::log_transition(SpaceState from, SpaceState to, std::uint64_t free,
                                std::uint64_t reserve) {
  const std::string free_text = format_bytes(free);
  const std::string reserve_text = format_bytes(reserve);
  switch (to) {
    case SpaceState::kRefusing:
      RINGLOG_ERROR(
          "engine: disk space low: %s free on %s, below the reserve of %s (--min-free-space): "
          "refusing appends and topic creation until space is freed (delete topics, shorten "
          "retention, or grow the file system)",
          free_text.c_str(), dir_.c_str(), reserve_text.c_str());
      return;
    case SpaceState::kLow:
      if (from == SpaceState::kRefusing) {
        RINGLOG_INFO("engine: %s free on %s, at least the reserve of %s again: appends resume",
                     free_text.c_str(), dir_.c_str(), reserve_text.c_str());
      } else {
        RINGLOG_WARN(
            "engine: disk space getting low: %s free on %s, below twice the reserve of %s "
            "(--min-free-space); appends will be refused below the reserve",
            free_text.c_str(), dir_.c_str(), reserve_text.c_str());
      }
      return;
    case SpaceState::kOk:
      if (from == SpaceState::kRefusing)
        RINGLOG_INFO("engine: %s free on %s, at least the reserve of %s again: appends resume",
                     free_text.c_str(), dir_.c_str(), reserve_text.c_str());
      return;
  }
}

}  // namespace ringlog
