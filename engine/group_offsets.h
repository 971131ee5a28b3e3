// Consumer group offsets: one committed offset (+ metadata string) per (group, topic,
// partition), kept in memory and in the append-only file `@group-offsets` of the data directory.
//
// Each commit appends one CRC'd record and fdatasyncs before returning, so a commit is durable
// and atomic (a torn record fails its CRC and is ignored: the previous value stands). On open
// the file is read up to its first invalid record and rewritten compacted (one record per key)
// through write_file_atomically. Record layout: docs/format.md.
//
// Threading: all members are thread-safe (one mutex; commits are serialised).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <ringlog/engine.h>

#include "io/env.h"

namespace ringlog {

class GroupOffsets {
 public:
  // Loads and compacts `dir/@group-offsets`. `env` must outlive the object.
  static Result<std::unique_ptr<GroupOffsets>> open(Env& env, std::string dir);

  Status commit(std::string_view group, std::string_view topic, std::int32_t partition,
                std::int64_t offset, std::string_view metadata);
  std::optional<CommittedOffset> get(std::string_view group, std::string_view topic,
                                     std::int32_t partition) const;
  // Every committed offset of `group`, sorted by (topic, partition).
  std::vector<GroupOffset> list(std::string_view group) const;
  std::size_t size() const;

 private:
  using Key = std::tuple<std::string, std::string, std::int32_t>;
  GroupOffsets(Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Status load_and_compact();

  Env& env_;
  const std::string dir_;
  mutable std::mutex mu_;
  std::map<Key, CommittedOffset> offsets_;
  std::unique_ptr<File> file_;
  std::uint64_t end_ = 0;  // append position
};

}  // namespace ringlog
