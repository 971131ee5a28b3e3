// A one-line progress bar on stderr for long work (verify, large produce), shown only when
// stderr is a terminal so that pipes and logs stay clean. Redraws at most ten times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ringlog::cli {

class Progress {
 public:
  // `total` bytes of work; enabled only when stderr is a terminal and `enabled` is true.
  Progress(std::string label, std::uint64_t total, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_total(std::uint64_t total) noexcept { total_ = total; }
  void update(std::uint64_t done);
  void add(std::uint64_t bytes) { update(done_ + bytes); }
  // Erases the bar (so the next message starts on a clean line).
  void finish();
  bool active() const noexcept { return active_; }

 private:
  void draw();

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool active_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace ringlog::cli
