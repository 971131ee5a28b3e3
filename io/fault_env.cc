#include "io/fault_env.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "io/assert.h"

namespace ringlog {
namespace {

std::string normalise(const std::string& path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/')
    out.pop_back();
  return out.empty() ? "." : out;
}

std::string dir_of(const std::string& path) {
  std::string dir = std::filesystem::path(normalise(path)).parent_path().string();
  return dir.empty() ? "." : dir;
}

std::uint64_t total_bytes(std::span<const iovec> data) {
  std::uint64_t total = 0;
  for (const iovec& v : data)
    total += v.iov_len;
  return total;
}

// The first `n` bytes of `data`.
std::vector<iovec> prefix(std::span<const iovec> data, std::uint64_t n) {
  std::vector<iovec> out;
  for (const iovec& v : data) {
    if (n == 0) break;
    std::uint64_t take = std::min<std::uint64_t>(n, v.iov_len);
    out.push_back({v.iov_base, take});
    n -= take;
  }
  return out;
}

Error injected(int sys_errno, std::string_view what, const std::string& path) {
  return error_from_errno(sys_errno, std::string(what) + ' ' + path + " (injected)");
}

}  // namespace

// A File whose writes, syncs, truncates and allocates go through the FaultInjectionEnv.
class FaultFile final : public File {
 public:
  FaultFile(FaultInjectionEnv& env, std::unique_ptr<File> base,
            std::shared_ptr<FaultInjectionEnv::FileState> state)
      : env_(env), base_(std::move(base)), state_(std::move(state)) {}

  Status write_at(FilePos pos, std::span<const iovec> data) override {
    return env_.write(*base_, *state_, pos, data);
  }
  Result<std::size_t> read_at(FilePos pos, std::span<std::byte> out) override {
    return base_->read_at(pos, out);
  }
  Status sync() override { return env_.sync(*base_, *state_); }
  Status allocate(FilePos pos, std::uint64_t length, bool keep_size) override {
    return env_.allocate(*base_, *state_, pos, length, keep_size);
  }
  Status truncate(std::uint64_t size_bytes) override {
    return env_.truncate(*base_, *state_, size_bytes);
  }
  Result<std::uint64_t> size() override { return base_->size(); }
  int fd() const override { return base_->fd(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv& env_;
  std::unique_ptr<File> base_;
  std::shared_ptr<FaultInjectionEnv::FileState> state_;  // follows the file across renames
};

FaultInjectionEnv::FaultInjectionEnv(Env& base, std::uint64_t seed)
    : base_(base), seed_(seed), rng_(seed) {}

FaultInjectionEnv::FaultInjectionEnv(std::unique_ptr<Env> base, std::uint64_t seed)
    : owned_base_(std::move(base)), base_(*owned_base_), seed_(seed), rng_(seed) {}

FaultInjectionEnv::~FaultInjectionEnv() = default;

void FaultInjectionEnv::fail_next_writes(int sys_errno, int count) {
  std::lock_guard lock(mu_);
  fail_writes_ = {sys_errno, count};
}

void FaultInjectionEnv::fail_next_syncs(int sys_errno, int count) {
  std::lock_guard lock(mu_);
  fail_syncs_ = {sys_errno, count};
}

void FaultInjectionEnv::short_next_write(int sys_errno) {
  std::lock_guard lock(mu_);
  short_write_errno_ = sys_errno;
}

void FaultInjectionEnv::set_space_limit(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_limit_ = bytes;
}

void FaultInjectionEnv::clear_space_limit() {
  std::lock_guard lock(mu_);
  space_limit_.reset();
}

std::uint64_t FaultInjectionEnv::used_bytes() const {
  std::lock_guard lock(mu_);
  std::uint64_t used = 0;
  for (const auto& [path, state] : files_)
    used += state->size;
  return used;
}

FaultInjectionEnv::Counters FaultInjectionEnv::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

bool FaultInjectionEnv::take(Fault& fault, int* sys_errno) {
  if (fault.count <= 0) return false;
  --fault.count;
  *sys_errno = fault.sys_errno;
  return true;
}

FaultInjectionEnv::StatePtr FaultInjectionEnv::state_for(const std::string& path) {
  StatePtr& state = files_[normalise(path)];
  if (state == nullptr) state = std::make_shared<FileState>();
  return state;
}

// The size is read at the first change, so that only files written through this Env count
// against the space limit.
Status FaultInjectionEnv::ensure_sized(File& base, FileState& state) {
  if (state.sized) return {};
  Result<std::uint64_t> size = base.size();
  if (!size) return fail(size.error());
  state.size = *size;
  state.sized = true;
  return {};
}

// Re-keys the state of `from`, and of everything under it, to `to`; a state already at a
// destination (a replaced file) leaves the tracking.
void FaultInjectionEnv::move_states(const std::string& from, const std::string& to) {
  std::string under = from + '/';
  std::vector<std::pair<std::string, StatePtr>> moved;
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->first == from || it->first.starts_with(under)) {
      moved.emplace_back(to + it->first.substr(from.size()), std::move(it->second));
      it = files_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [path, state] : moved)
    files_[path] = std::move(state);
}

Status FaultInjectionEnv::check_space(const FileState& state, std::uint64_t end) const {
  if (!space_limit_ || end <= state.size) return {};
  std::uint64_t used = 0;
  for (const auto& [path, other] : files_)
    used += other->size;
  if (used + (end - state.size) <= *space_limit_) return {};
  return fail(error_from_errno(ENOSPC, "space limit (injected)"));
}

// Reads what [pos, pos + read_length) holds now and appends it to the file's undo log.
Status FaultInjectionEnv::record_undo(File& base, FileState& state, FilePos pos,
                                      std::uint64_t length, std::uint64_t read_length,
                                      bool divisible) {
  Undo undo{pos, std::vector<std::byte>(read_length), length, state.size, divisible};
  Result<std::size_t> n = base.read_at(pos, undo.before);
  if (!n) return fail(n.error().with_context("fault env: reading the undo image"));
  undo.before.resize(*n);
  state.undo.push_back(std::move(undo));
  return {};
}

Status FaultInjectionEnv::write(File& base, FileState& state, FilePos pos,
                                std::span<const iovec> data) {
  std::lock_guard lock(mu_);
  ++counters_.writes;
  int sys_errno = 0;
  if (take(fail_writes_, &sys_errno)) return fail(injected(sys_errno, "write", base.path()));
  if (Status s = ensure_sized(base, state); !s) return s;
  std::uint64_t length = total_bytes(data);
  if (Status s = check_space(state, pos.bytes + length); !s) {
    return fail(s.error().with_context("write " + base.path()));
  }
  int short_errno = std::exchange(short_write_errno_, 0);
  std::uint64_t keep = length;
  if (short_errno != 0) {
    keep = length < 2 ? 0 : std::uniform_int_distribution<std::uint64_t>(1, length - 1)(rng_);
  }
  if (Status s = record_undo(base, state, pos, keep, keep, true); !s) return s;
  std::vector<iovec> kept = prefix(data, keep);
  Status written = base.write_at(pos, kept);
  if (!written) return written;
  state.size = std::max(state.size, pos.bytes + keep);
  counters_.bytes_written += keep;
  if (short_errno != 0) return fail(injected(short_errno, "write", base.path()));
  return {};
}

Status FaultInjectionEnv::sync(File& base, FileState& state) {
  std::lock_guard lock(mu_);
  ++counters_.syncs;
  int sys_errno = 0;
  if (take(fail_syncs_, &sys_errno)) return fail(injected(sys_errno, "fdatasync", base.path()));
  if (Status s = base.sync(); !s) return s;
  state.undo.clear();
  return {};
}

Status FaultInjectionEnv::allocate(File& base, FileState& state, FilePos pos, std::uint64_t length,
                                   bool keep_size) {
  std::lock_guard lock(mu_);
  if (keep_size) return base.allocate(pos, length, keep_size);
  if (Status s = ensure_sized(base, state); !s) return s;
  std::uint64_t end = pos.bytes + length;
  if (Status s = check_space(state, end); !s) {
    return fail(s.error().with_context("fallocate " + base.path()));
  }
  if (end <= state.size) return base.allocate(pos, length, keep_size);
  if (Status s = record_undo(base, state, pos, 0, 0, false); !s) return s;
  if (Status s = base.allocate(pos, length, keep_size); !s) return s;
  state.size = end;
  return {};
}

Status FaultInjectionEnv::truncate(File& base, FileState& state, std::uint64_t size_bytes) {
  std::lock_guard lock(mu_);
  if (Status s = ensure_sized(base, state); !s) return s;
  std::uint64_t old_size = state.size;
  std::uint64_t cut = old_size > size_bytes ? old_size - size_bytes : 0;
  if (Status s = record_undo(base, state, FilePos(size_bytes), 0, cut, false); !s) return s;
  if (Status s = base.truncate(size_bytes); !s) return s;
  state.size = size_bytes;
  return {};
}

Status FaultInjectionEnv::drop_unsynced() {
  return power_loss(false);
}
Status FaultInjectionEnv::tear_unsynced() {
  return power_loss(true);
}

Status FaultInjectionEnv::power_loss(bool tear) {
  std::lock_guard lock(mu_);
  ++power_losses_;
  Status status;
  for (auto& [path, state] : files_) {
    Status s = rewind_file(path, *state, tear);
    if (!s && status) status = s;
  }
  Status names = undo_names();
  return status ? names : status;
}

std::string FaultInjectionEnv::boot_id() {
  std::lock_guard lock(mu_);
  return base_.boot_id() + "/" + std::to_string(power_losses_);
}

// Plays the file's undo log backwards: all of it, or (tear) all but a random prefix, the
// boundary write cut at a random byte.
Status FaultInjectionEnv::rewind_file(const std::string& path, FileState& state, bool tear) {
  if (state.undo.empty()) return {};
  std::size_t keep =
      tear ? std::uniform_int_distribution<std::size_t>(0, state.undo.size())(rng_) : 0;
  std::uint64_t cut = 0;
  if (keep < state.undo.size() && state.undo[keep].divisible && tear) {
    cut = std::uniform_int_distribution<std::uint64_t>(0, state.undo[keep].length)(rng_);
  }
  Result<std::unique_ptr<File>> file = base_.open_file(path, OpenMode::kReadWrite);
  if (!file) {
    state.undo.clear();  // removed since: nothing to restore
    return file.error().code() == Errc::kNotFound ? Status{} : fail(file.error());
  }
  for (std::size_t i = state.undo.size(); i-- > keep;) {
    const Undo& undo = state.undo[i];
    std::uint64_t from = i == keep ? cut : 0;
    if (from < undo.before.size()) {
      iovec v{const_cast<std::byte*>(undo.before.data()) + from, undo.before.size() - from};
      if (Status s = (*file)->write_at(undo.pos + from, {&v, 1}); !s) return s;
    }
    std::uint64_t size =
        from == 0 ? undo.size_before : std::max(undo.size_before, undo.pos.bytes + from);
    if (Status s = (*file)->truncate(size); !s) return s;
    state.size = size;
  }
  state.undo.clear();
  return (*file)->sync();
}

// Undoes creations and renames whose directory was not synced, newest first.
Status FaultInjectionEnv::undo_names() {
  Status status;
  for (auto it = names_.rbegin(); it != names_.rend(); ++it) {
    if (it->from.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(it->path, ec);
      forget(it->path);
      if (ec && status)
        status = fail(Errc::kIo, "fault env: removing " + it->path + ": " + ec.message());
      continue;
    }
    Status s = base_.rename_file(it->path, it->from);
    if (s) {
      move_states(it->path, it->from);
    } else if (status && s.error().code() != Errc::kNotFound) {
      status = s;
    }
  }
  names_.clear();
  return status;
}

// Drops the state of `path` and of everything under it.
void FaultInjectionEnv::forget(const std::string& path) {
  std::string under = path + '/';
  std::erase_if(files_, [&](const auto& entry) {
    return entry.first == path || entry.first.starts_with(under);
  });
}

Result<std::unique_ptr<File>> FaultInjectionEnv::open_file(const std::string& path, OpenMode mode) {
  std::lock_guard lock(mu_);
  bool creates = mode == OpenMode::kCreateReadWrite || mode == OpenMode::kCreateExclusive;
  Result<bool> existed = creates ? base_.exists(path) : Result<bool>(true);
  if (!existed) return fail(existed.error());
  Result<std::unique_ptr<File>> base = base_.open_file(path, mode);
  if (!base) return fail(base.error());
  if (!*existed) {
    names_.push_back({normalise(path), "", dir_of(path)});
    files_.erase(normalise(path));  // a new file: whatever was tracked under its name is gone
  }
  return std::make_unique<FaultFile>(*this, std::move(*base), state_for(path));
}

void FaultInjectionEnv::submit_writes(std::span<WriteOp> ops) {
  for (WriteOp& op : ops) {
    RINGLOG_ASSERT_MSG(dynamic_cast<FaultFile*>(op.file) != nullptr,
                       "a WriteOp's file must come from this FaultInjectionEnv");
    op.result = op.file->write_at(op.pos, op.data);
    if (op.result && op.sync_after) op.result = op.file->sync();
  }
}

Status FaultInjectionEnv::create_dir(const std::string& path) {
  std::lock_guard lock(mu_);
  Result<bool> existed = base_.exists(path);
  if (!existed) return fail(existed.error());
  if (Status s = base_.create_dir(path); !s) return s;
  if (!*existed) names_.push_back({normalise(path), "", dir_of(path)});
  return {};
}

Status FaultInjectionEnv::remove_file(const std::string& path) {
  std::lock_guard lock(mu_);
  if (Status s = base_.remove_file(path); !s) return s;
  std::string key = normalise(path);
  files_.erase(key);
  std::erase_if(names_, [&](const NameChange& n) { return n.path == key; });
  return {};
}

Status FaultInjectionEnv::remove_dir(const std::string& path) {
  std::lock_guard lock(mu_);
  if (Status s = base_.remove_dir(path); !s) return s;
  std::string key = normalise(path);
  std::erase_if(names_, [&](const NameChange& n) { return n.path == key; });
  return {};
}

Status FaultInjectionEnv::rename_file(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  Result<bool> replaced = base_.exists(to);
  if (!replaced) return fail(replaced.error());
  if (Status s = base_.rename_file(from, to); !s) return s;
  std::string old_key = normalise(from), new_key = normalise(to);
  files_.erase(new_key);  // replaced: Files still open on it write to an unlinked file
  move_states(old_key, new_key);
  auto created = std::find_if(names_.begin(), names_.end(), [&](const NameChange& n) {
    return n.path == old_key && n.from.empty();
  });
  if (created != names_.end() && *replaced) {
    names_.erase(created);  // replacing renames are durable at once (see the class comment)
  } else if (created != names_.end()) {
    *created = {new_key, "", dir_of(to)};  // still a creation, now under its new name
  } else if (!*replaced) {
    names_.push_back({new_key, old_key, dir_of(to)});
  }
  return {};
}

Status FaultInjectionEnv::sync_dir(const std::string& path) {
  std::lock_guard lock(mu_);
  if (Status s = base_.sync_dir(path); !s) return s;
  std::string key = normalise(path);
  std::erase_if(names_, [&](const NameChange& n) { return n.dir == key; });
  return {};
}

Result<std::vector<std::string>> FaultInjectionEnv::list_dir(const std::string& path) {
  return base_.list_dir(path);
}

Result<bool> FaultInjectionEnv::exists(const std::string& path) {
  return base_.exists(path);
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::lock_file(const std::string& path) {
  return base_.lock_file(path);
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::lock_dir(const std::string& path) {
  return base_.lock_dir(path);
}

}  // namespace ringlog
