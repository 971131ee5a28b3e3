// GatedEnv: a test-only Env wrapper whose file syncs and/or writes can be held at a gate until
// the test opens it, to show what the engine does while an fdatasync or a write is slow.
// (io/fault_env.h has no delay knob; this stays in tests/engine.)
//
// Everything else is forwarded to the wrapped Env. submit_writes runs the ops one by one through
// the wrapped files (write, then sync when asked), so held writes and syncs block the engine's
// writer exactly where a slow device would. Thread-safe. Open the gates before the engine
// closes, or close() waits forever.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/env.h"

namespace ringlog::test {

class GatedEnv final : public Env {
 public:
  explicit GatedEnv(Env& base) : base_(base) {}

  void hold_syncs(bool hold) { set(hold_syncs_, hold); }
  void hold_writes(bool hold) { set(hold_writes_, hold); }
  // How many syncs / writes are waiting at the gate now.
  int held_syncs() const { return count(held_syncs_); }
  int held_writes() const { return count(held_writes_); }
  // Polls until `n` syncs (writes) are held; false after `timeout`.
  bool wait_held_syncs(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return poll([&] { return held_syncs() >= n; }, timeout);
  }
  bool wait_held_writes(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return poll([&] { return held_writes() >= n; }, timeout);
  }

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override {
    auto file = base_.open_file(path, mode);
    if (!file) return fail(file.error());
    return std::unique_ptr<File>(new GatedFile(*this, std::move(*file)));
  }
  void submit_writes(std::span<WriteOp> ops) override {
    for (WriteOp& op : ops) {
      op.result = op.file->write_at(op.pos, op.data);
      if (op.result && op.sync_after) op.result = op.file->sync();
    }
  }
  Status create_dir(const std::string& path) override { return base_.create_dir(path); }
  Status remove_file(const std::string& path) override { return base_.remove_file(path); }
  Status remove_dir(const std::string& path) override { return base_.remove_dir(path); }
  Status rename_file(const std::string& from, const std::string& to) override {
    return base_.rename_file(from, to);
  }
  Status sync_dir(const std::string& path) override { return base_.sync_dir(path); }
  Result<std::vector<std::string>> list_dir(const std::string& path) override {
    return base_.list_dir(path);
  }
  Result<bool> exists(const std::string& path) override { return base_.exists(path); }
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override {
    return base_.lock_file(path);
  }
  Result<std::unique_ptr<FileLock>> lock_dir(const std::string& path) override {
    return base_.lock_dir(path);
  }

 private:
  class GatedFile final : public File {
   public:
    GatedFile(GatedEnv& env, std::unique_ptr<File> base) : env_(env), base_(std::move(base)) {}
    Status write_at(FilePos pos, std::span<const iovec> data) override {
      env_.pass(env_.hold_writes_, env_.held_writes_);
      return base_->write_at(pos, data);
    }
    Result<std::size_t> read_at(FilePos pos, std::span<std::byte> out) override {
      return base_->read_at(pos, out);
    }
    Status sync() override {
      env_.pass(env_.hold_syncs_, env_.held_syncs_);
      return base_->sync();
    }
    Status allocate(FilePos pos, std::uint64_t length, bool keep_size) override {
      return base_->allocate(pos, length, keep_size);
    }
    Status truncate(std::uint64_t size_bytes) override { return base_->truncate(size_bytes); }
    Result<std::uint64_t> size() override { return base_->size(); }
    int fd() const override { return base_->fd(); }
    const std::string& path() const override { return base_->path(); }

   private:
    GatedEnv& env_;
    std::unique_ptr<File> base_;
  };

  void set(bool& gate, bool hold) {
    {
      std::lock_guard lock(mu_);
      gate = hold;
    }
    cv_.notify_all();
  }
  int count(const int& held) const {
    std::lock_guard lock(mu_);
    return held;
  }
  void pass(const bool& gate, int& held) {
    std::unique_lock lock(mu_);
    ++held;
    cv_.wait(lock, [&] { return !gate; });
    --held;
  }
  template <typename Pred>
  static bool poll(Pred done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  Env& base_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool hold_syncs_ = false;
  bool hold_writes_ = false;
  int held_syncs_ = 0;
  int held_writes_ = 0;
};

}  // namespace ringlog::test
