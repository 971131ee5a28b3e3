#include "engine/quarantine.h"

#include "engine/file_layout.h"
#include "engine/file_util.h"

namespace ringlog {

namespace {

// Creates the quarantine directory durably if it is missing.
Status ensure_quarantine_dir(Env& env, const std::string& data_dir) {
  std::string dir = quarantine_dir(data_dir);
  auto exists = env.exists(dir);
  if (!exists) return fail(exists.error());
  if (*exists) return {};
  if (auto s = env.create_dir(dir); !s) return s;
  return env.sync_dir(data_dir);
}

// A name `<name>-<now_ms>` not yet taken in the quarantine directory.
Result<std::string> free_name(Env& env, const std::string& data_dir, std::string_view name,
                              std::int64_t now_ms) {
  std::string base = std::string(name) + "-" + std::to_string(now_ms);
  for (int n = 1;; ++n) {
    std::string candidate = n == 1 ? base : base + "-" + std::to_string(n);
    auto taken = env.exists(join_path(quarantine_dir(data_dir), candidate));
    if (!taken) return fail(taken.error());
    auto temp =
        env.exists(join_path(quarantine_dir(data_dir), candidate + std::string(kTempSuffix)));
    if (!temp) return fail(temp.error());
    if (!*taken && !*temp) return candidate;
  }
}

}  // namespace

std::string quarantine_dir(std::string_view data_dir) {
  return join_path(data_dir, kQuarantineDirName);
}

Result<std::string> move_to_quarantine(Env& env, const std::string& data_dir, std::string_view name,
                                       std::int64_t now_ms) {
  if (auto s = ensure_quarantine_dir(env, data_dir); !s) return fail(s.error());
  auto target = free_name(env, data_dir, name, now_ms);
  if (!target) return fail(target.error());
  std::string to = join_path(quarantine_dir(data_dir), *target);
  if (auto s = env.rename_file(join_path(data_dir, name), to); !s) return fail(s.error());
  if (auto s = env.sync_dir(quarantine_dir(data_dir)); !s) return fail(s.error());
  if (auto s = env.sync_dir(data_dir); !s) return fail(s.error());
  return to;
}

Result<std::string> copy_to_quarantine(Env& env, const std::string& data_dir, std::string_view name,
                                       std::span<const std::byte> bytes, std::int64_t now_ms) {
  if (auto s = ensure_quarantine_dir(env, data_dir); !s) return fail(s.error());
  auto target = free_name(env, data_dir, name, now_ms);
  if (!target) return fail(target.error());
  if (auto s = write_file_atomically(env, quarantine_dir(data_dir), *target, bytes); !s)
    return fail(s.error());
  return join_path(quarantine_dir(data_dir), *target);
}

}  // namespace ringlog
