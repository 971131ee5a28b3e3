// Small file helpers over the Env seam, shared by the checkpoint, topic config and group
// offsets stores.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "io/env.h"

namespace ringlog {

// Replaces `dir/name` with `bytes` atomically and durably: writes `name.tmp`, fdatasyncs it,
// renames it over `name` and fsyncs `dir`. After a crash the file holds the old or the new
// content, never a mixture.
Status write_file_atomically(Env& env, const std::string& dir, std::string_view name,
                             std::span<const std::byte> bytes);

// The whole content of a file (kNotFound if it does not exist).
Result<std::vector<std::byte>> read_whole_file(Env& env, const std::string& path);

// Removes a directory tree (files and sub-directories) through the Env.
Status remove_tree(Env& env, const std::string& path);

}  // namespace ringlog
