// Consumer group offsets: one committed offset (+ metadata string) per (group, topic,
// partition), kept in memory and in the append-only file `@group-offsets` of the data directory
// (record format: group_offsets_file.h, docs/format.md).
//
// Each commit appends one CRC'd record (with its commit time) and fdatasyncs before returning,
// so a commit is durable and atomic: a torn record fails its CRC and the previous value stands.
// Removals (expiry, a deleted topic) append delete records the same way.
//
// Open reads every sound record, looking past damage (scan_offset_records): the last record per
// key wins. A torn tail (invalid bytes with no sound record after them) is the normal trace of
// a commit cut by a crash, never acknowledged: it is dropped, logged at INFO. Damage in the
// middle (a sound record follows) is reported: logged at ERROR naming the file, the byte and
// what was kept, returned in `damage`, and the original file is copied into the quarantine
// directory (quarantine.h) before anything rewrites it. Then the file is rewritten compacted
// (one record per key) through write_file_atomically. If the copy cannot be made, the file is
// left as it is (no compaction) and appends continue after its last sound record.
//
// Retention (Kafka's offsets.retention.minutes): a group's offsets expire together once the
// group has had no commit and was not in use (touch) for the retention period. After an open, a
// group counts as used at the open at the earliest: touches are not stored, so a group in use
// until a shutdown cannot be told from an abandoned one, and a long downtime must not expire
// everything at startup.
//
// Threading: all members are thread-safe. `file_mu_` serialises writes to the file and is held
// across their fdatasync; `mu_` guards the maps and is never held across I/O, so reads and
// touches never wait for the disk. Lock order: file_mu_, then mu_.
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

#include "engine/group_offsets_file.h"
#include "io/env.h"

namespace ringlog {

class GroupOffsets {
 public:
  // Loads and compacts `dir/@group-offsets` at wall-clock time `now_ms`, appending a line per
  // damage found to `damage`. `env` must outlive the object.
  static Result<std::unique_ptr<GroupOffsets>> open(Env& env, std::string dir, std::int64_t now_ms,
                                                    std::vector<std::string>& damage);

  Status commit(std::string_view group, std::string_view topic, std::int32_t partition,
                std::int64_t offset, std::string_view metadata, std::int64_t now_ms);
  std::optional<CommittedOffset> get(std::string_view group, std::string_view topic,
                                     std::int32_t partition) const;
  // Every committed offset of `group`, sorted by (topic, partition).
  std::vector<GroupOffset> list(std::string_view group) const;
  std::size_t size() const;

  // The group is in use at `now_ms` (a consumer group with members): its offsets do not expire
  // within the retention period from then. In memory only; a group without offsets is ignored.
  void touch(std::string_view group, std::int64_t now_ms);
  // Removes the offsets of groups unused for `retention_ms` at `now_ms`, at most `max_offsets`
  // of them (one write of delete records and one fdatasync; the rest on a later call). Returns
  // how many it removed.
  Result<std::size_t> expire(std::int64_t now_ms, std::uint64_t retention_ms,
                             std::size_t max_offsets);
  // Removes every offset committed for `topic` (the topic was deleted). Returns how many.
  Result<std::size_t> remove_topic(std::string_view topic, std::int64_t now_ms);

 private:
  using Key = std::tuple<std::string, std::string, std::int32_t>;
  struct Entry {
    CommittedOffset value;
    std::int64_t commit_ms = -1;  // -1: committed before times were stored
  };
  struct Group {
    std::int64_t last_used_ms = 0;  // newest commit, touch or open
    std::size_t offsets = 0;
  };
  GroupOffsets(Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Status load(std::int64_t now_ms, std::vector<std::string>& damage);
  void apply(OffsetRecord&& record);
  // Keeps the damaged file in quarantine, logs and reports it; false if no copy could be made.
  bool report_damage(const std::vector<std::byte>& bytes, const OffsetFileScan& scan,
                     std::int64_t now_ms, std::vector<std::string>& damage);
  std::vector<std::byte> compacted() const;
  // Appends delete records for `keys` and fdatasyncs, then drops them from memory.
  // REQUIRES: file_mu_ held.
  Status remove_keys(const std::vector<Key>& keys, std::int64_t now_ms);
  // Appends `bytes` at the end of the file and fdatasyncs; cuts a failed write. REQUIRES:
  // file_mu_ held.
  Status append(const std::vector<std::byte>& bytes);
  void erase_key(const Key& key);  // REQUIRES: mu_ held

  Env& env_;
  const std::string dir_;
  std::mutex file_mu_;
  std::unique_ptr<File> file_;
  std::uint64_t end_ = 0;  // append position
  mutable std::mutex mu_;
  std::map<Key, Entry> offsets_;
  std::map<std::string, Group, std::less<>> groups_;
};

}  // namespace ringlog
