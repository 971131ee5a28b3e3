// The quarantine directory `<data>/@quarantine/`: where the engine moves what it found damaged or
// could not account for (a topic directory without a readable `@topic`, a copy of a damaged
// `@group-offsets`) instead of deleting it. Nothing in it is read back by the engine; it stays
// until an operator inspects it and removes it or puts it back (docs/durability.md), and
// `ringlog verify` reports whatever is in it.
//
// Entries are named `<name>-<unix ms>` (then `-2`, `-3`, ... if that is taken). The directory's
// name starts with '@', so no topic can ever collide with it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "io/env.h"

namespace ringlog {

// `<data>/@quarantine`.
std::string quarantine_dir(std::string_view data_dir);

// Moves `<data>/<name>` (a file or a directory) into the quarantine directory (created if
// missing) and makes the rename durable (both directories fsync'ed). Returns the new path.
Result<std::string> move_to_quarantine(Env& env, const std::string& data_dir, std::string_view name,
                                       std::int64_t now_ms);

// Writes `bytes` as a new file of the quarantine directory, atomically and durably
// (write_file_atomically). Returns its path.
Result<std::string> copy_to_quarantine(Env& env, const std::string& data_dir, std::string_view name,
                                       std::span<const std::byte> bytes, std::int64_t now_ms);

}  // namespace ringlog
