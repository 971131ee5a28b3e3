// FaultInjectionEnv: an Env for tests that wraps a real one and, on command, fails, shortens,
// drops or tears writes (after leveldb's FaultInjectionTestEnv). Every random choice comes from
// the seed given at construction; a failing test prints `seed()`.
//
// What a power loss (`drop_unsynced`, `tear_unsynced`) models:
//   - Data. Every write, truncate and size-growing allocate made through this Env is recorded
//     in an undo log per file: the bytes it overwrote (read from the base file just before) and
//     the size before. A successful `File::sync` of the file empties its log. `drop_unsynced`
//     plays every log backwards, so each file holds what it held at its last successful sync.
//     `tear_unsynced` keeps a random prefix of each log in write order instead, cutting the
//     boundary write at a random byte (truncates and allocates are kept or undone whole).
//   - Names. A file or directory created through this Env, and a rename onto a name that did not
//     exist, are undone unless the directory holding the new name was `sync_dir`ed since.
//     Not modelled (durable at once): removals, renames that replace an existing file.
//   - A failed sync keeps the undo log: the data stays "unsynced" and a later drop reverts it.
//   - The machine restarts: boot_id() changes.
// Files are tracked by identity: every File opened on the same name shares one state (so logs
// survive closing and reopening a file), and that state follows the file when it, or a directory
// above it, is renamed through this Env, so a File opened before a rename keeps booking its
// writes and syncs on the renamed file. A file removed, or replaced by a rename, leaves the
// tracking: Files still open on it write to an unlinked file, which a drop ignores. Drop and tear
// reopen files by their current name through the base Env. A file that existed before its first
// open through this Env starts with an empty log (its content counts as synced). Files left open
// across a drop keep their base descriptors: reopen them, as a restarted process would.
//
// Space: with a limit set, a write or allocate that would grow the total size of the files
// written through this Env beyond it fails with ENOSPC and changes nothing. Reservations made
// with keep_size are not counted.
//
// Threading: every call and control is thread-safe (one mutex, held across base writes, not
// across reads). `drop_unsynced`/`tear_unsynced` must not race with writes to the same files.
// `submit_writes` runs the ops one by one through the same paths as File::write_at and sync.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "io/env.h"

namespace ringlog {

class FaultInjectionEnv final : public Env {
 public:
  struct Counters {
    std::uint64_t writes = 0;         // write calls, including injected failures
    std::uint64_t syncs = 0;          // sync calls, including injected failures
    std::uint64_t bytes_written = 0;  // bytes that reached the base files
  };

  // `base` must outlive this Env.
  FaultInjectionEnv(Env& base, std::uint64_t seed);
  // Owns `base`.
  FaultInjectionEnv(std::unique_ptr<Env> base, std::uint64_t seed);
  ~FaultInjectionEnv() override;

  std::uint64_t seed() const { return seed_; }

  // The next `count` writes fail with `sys_errno` (ENOSPC, EIO, ...) and write nothing.
  void fail_next_writes(int sys_errno, int count = 1);
  // The next `count` syncs fail with `sys_errno`; the data they would cover stays unsynced.
  void fail_next_syncs(int sys_errno, int count = 1);
  // The next write persists a random non-empty strict prefix of its data (nothing if it is one
  // byte), then fails with `sys_errno`: a device filling up mid-write.
  void short_next_write(int sys_errno);
  void set_space_limit(std::uint64_t bytes);
  void clear_space_limit();
  // Total size of the files written through this Env, as counted against the space limit.
  std::uint64_t used_bytes() const;

  // Power loss: see the class comment. Errors come from the base Env while restoring.
  Status drop_unsynced();
  // Power loss with torn writes: see the class comment.
  Status tear_unsynced();

  Counters counters() const;

  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  void submit_writes(std::span<WriteOp> ops) override;
  Status create_dir(const std::string& path) override;
  Status remove_file(const std::string& path) override;
  Status remove_dir(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;
  // The base Env's, plus the number of power losses simulated so far: each is a new boot.
  std::string boot_id() override;
  Result<std::unique_ptr<FileLock>> lock_dir(const std::string& path) override;

 private:
  friend class FaultFile;

  // What one unsynced change overwrote.
  struct Undo {
    FilePos pos;
    std::vector<std::byte> before;  // the bytes at `pos` before (shorter at end of file)
    std::uint64_t length = 0;       // bytes the change wrote at `pos`
    std::uint64_t size_before = 0;
    bool divisible = false;  // a write, which a tear may cut
  };
  // One file's unsynced changes, shared by every File open on it and keyed in `files_` by its
  // current name.
  struct FileState {
    bool sized = false;      // `size` was read from the base file (at the first change)
    std::uint64_t size = 0;  // counted against the space limit once sized
    std::vector<Undo> undo;  // in write order
  };
  using StatePtr = std::shared_ptr<FileState>;
  // A name not yet durable in its directory.
  struct NameChange {
    std::string path;  // the new name
    std::string from;  // for a rename: the old name; empty for a creation
    std::string dir;   // the directory whose sync makes it durable
  };
  struct Fault {
    int sys_errno = 0;
    int count = 0;
  };

  Status write(File& base, FileState& state, FilePos pos, std::span<const iovec> data);
  Status sync(File& base, FileState& state);
  Status allocate(File& base, FileState& state, FilePos pos, std::uint64_t length, bool keep_size);
  Status truncate(File& base, FileState& state, std::uint64_t size_bytes);

  StatePtr state_for(const std::string& path);  // REQUIRES: mu_ held
  static Status ensure_sized(File& base, FileState& state);
  void move_states(const std::string& from, const std::string& to);  // REQUIRES: mu_ held
  Status check_space(const FileState& state, std::uint64_t end) const;
  Status record_undo(File& base, FileState& state, FilePos pos, std::uint64_t length,
                     std::uint64_t read_length, bool divisible);
  Status power_loss(bool tear);
  Status rewind_file(const std::string& path, FileState& state, bool tear);
  Status undo_names();
  void forget(const std::string& path);
  bool take(Fault& fault, int* sys_errno);

  std::unique_ptr<Env> owned_base_;
  Env& base_;
  const std::uint64_t seed_;

  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  Fault fail_writes_;
  Fault fail_syncs_;
  int short_write_errno_ = 0;
  std::optional<std::uint64_t> space_limit_;
  Counters counters_;
  std::map<std::string, StatePtr> files_;  // by normalised current path
  std::uint64_t power_losses_ = 0;
  std::vector<NameChange> names_;  // in the order they were made
};

}  // namespace ringlog
