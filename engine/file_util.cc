#include "engine/file_util.h"

#include "engine/file_layout.h"

namespace ringlog {

Status write_file_atomically(Env& env, const std::string& dir, std::string_view name,
                             std::span<const std::byte> bytes) {
  std::string final_path = join_path(dir, name);
  std::string temp_path = final_path + std::string(kTempSuffix);
  auto exists = env.exists(temp_path);
  if (!exists) return fail(exists.error());
  if (*exists) {
    if (auto removed = env.remove_file(temp_path); !removed) return removed;
  }
  auto file = env.open_file(temp_path, OpenMode::kCreateExclusive);
  if (!file) return fail(file.error());
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  if (auto s = (*file)->write_at(FilePos(0), std::span(&iov, 1)); !s) return s;
  if (auto s = (*file)->sync(); !s) return s;
  file->reset();
  if (auto s = env.rename_file(temp_path, final_path); !s) return s;
  return env.sync_dir(dir);
}

Result<std::vector<std::byte>> read_whole_file(Env& env, const std::string& path) {
  auto file = env.open_file(path, OpenMode::kReadOnly);
  if (!file) return fail(file.error());
  auto size = (*file)->size();
  if (!size) return fail(size.error());
  std::vector<std::byte> bytes(*size);
  auto got = (*file)->read_at(FilePos(0), bytes);
  if (!got) return fail(got.error());
  bytes.resize(*got);
  return bytes;
}

Status remove_tree(Env& env, const std::string& path) {
  auto names = env.list_dir(path);
  if (!names) {
    if (names.error().code() == Errc::kNotFound) return {};
    // Not a directory: a file.
    return env.remove_file(path);
  }
  for (const std::string& name : *names) {
    std::string child = join_path(path, name);
    auto sub = env.list_dir(child);
    Status s = sub ? remove_tree(env, child) : env.remove_file(child);
    if (!s) return s;
  }
  return env.remove_dir(path);
}

}  // namespace ringlog
