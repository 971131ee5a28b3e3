// Offline access to the files of a data directory, for `verify` and `dump`: read-only mappings
// and directory listings. Works without the engine and without its lock. The layout itself
// (file names, index entries) is the engine's one definition: engine/file_layout.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringlog/error.h>

#include "engine/file_layout.h"

namespace ringlog::cli {

// A whole file mapped read-only (empty files map to an empty span). Move-only.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Subdirectories / files of `dir` (names only, sorted), skipping '.' entries.
Result<std::vector<std::string>> list_directory(const std::string& dir, bool directories);

// "2026-11-24T05:40:00.123Z"
std::string format_timestamp_ms(std::int64_t timestamp_ms);

}  // namespace ringlog::cli
