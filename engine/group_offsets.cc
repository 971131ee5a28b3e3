#include "engine/group_offsets.h"

#include <algorithm>

#include "engine/file_layout.h"
#include "engine/file_util.h"
#include "engine/quarantine.h"
#include "io/log.h"

namespace ringlog {

namespace {

std::string describe_gaps(const OffsetFileScan& scan) {
  std::string out;
  std::uint64_t total = 0;
  for (const auto& gap : scan.damage)
    total += gap.bytes;
  const auto& first = scan.damage.front();
  out = "damaged at byte " + std::to_string(first.position) + " (" + std::to_string(total) +
        " unreadable bytes";
  if (scan.damage.size() > 1) out += " in " + std::to_string(scan.damage.size()) + " places";
  out += ")";
  return out;
}

}  // namespace

Result<std::unique_ptr<GroupOffsets>> GroupOffsets::open(Env& env, std::string dir,
                                                         std::int64_t now_ms,
                                                         std::vector<std::string>& damage) {
  std::unique_ptr<GroupOffsets> store(new GroupOffsets(env, std::move(dir)));
  if (auto s = store->load(now_ms, damage); !s) return fail(s.error());
  return store;
}

void GroupOffsets::apply(OffsetRecord&& r) {
  Key key{std::move(r.group), std::move(r.topic), r.partition};
  if (r.kind == OffsetRecordKind::kDelete) {
    offsets_.erase(key);
    return;
  }
  offsets_[std::move(key)] = Entry{{r.offset, std::move(r.metadata)}, r.time_ms};
}

bool GroupOffsets::report_damage(const std::vector<std::byte>& bytes, const OffsetFileScan& scan,
                                 std::int64_t now_ms, std::vector<std::string>& damage) {
  std::string path = join_path(dir_, kGroupOffsetsFileName);
  std::string what = path + ": " + describe_gaps(scan) + "; kept the " +
                     std::to_string(scan.records) + " sound records (" +
                     std::to_string(scan.records - scan.records_after) + " before the damage, " +
                     std::to_string(scan.records_after) +
                     " after it); commits in the damaged bytes are lost";
  auto copy = copy_to_quarantine(env_, dir_, kGroupOffsetsFileName, bytes, now_ms);
  if (!copy) {
    RINGLOG_ERROR("engine: %s; the original could not be kept (%s), so the file is left as it is",
                  what.c_str(), copy.error().to_string().c_str());
    damage.push_back(what + "; left in place (no copy could be made)");
    return false;
  }
  RINGLOG_ERROR(
      "engine: %s; the damaged original is kept as %s (inspect it, then remove it); the file is "
      "rewritten with what was kept",
      what.c_str(), copy->c_str());
  damage.push_back(what + "; the original is kept as " + *copy);
  return true;
}

Status GroupOffsets::load(std::int64_t now_ms, std::vector<std::string>& damage) {
  std::string path = join_path(dir_, kGroupOffsetsFileName);
  auto bytes = read_whole_file(env_, path);
  if (!bytes && bytes.error().code() != Errc::kNotFound) return fail(bytes.error());
  OffsetFileScan scan;
  if (bytes)
    scan =
        scan_offset_records(*bytes, [&](OffsetRecord&& r, std::uint64_t) { apply(std::move(r)); });
  for (const auto& [key, entry] : offsets_) {
    Group& g = groups_[std::get<0>(key)];
    g.last_used_ms = std::max({g.last_used_ms, entry.commit_ms, now_ms});
    ++g.offsets;
  }
  if (scan.torn_tail) {
    RINGLOG_INFO("engine: %s: dropped a torn commit record (%llu bytes at byte %llu)", path.c_str(),
                 static_cast<unsigned long long>(scan.torn_tail->bytes),
                 static_cast<unsigned long long>(scan.torn_tail->position));
  }
  bool compact = true;
  if (!scan.damage.empty()) compact = report_damage(*bytes, scan, now_ms, damage);
  if (compact) {
    if (auto s = write_file_atomically(env_, dir_, kGroupOffsetsFileName, compacted()); !s)
      return s;
  }
  auto file = env_.open_file(path, compact ? OpenMode::kReadWrite : OpenMode::kCreateReadWrite);
  if (!file) return fail(file.error());
  file_ = std::move(*file);
  if (compact) {
    auto size = file_->size();
    if (!size) return fail(size.error());
    end_ = *size;
  } else {
    end_ = scan.valid_end;  // appends go after the last sound record (a torn tail is cut)
    if (auto s = file_->truncate(end_); !s) return s;
    if (auto s = file_->sync(); !s) return s;
  }
  return {};
}

std::vector<std::byte> GroupOffsets::compacted() const {
  std::vector<std::byte> out;
  for (const auto& [key, entry] : offsets_) {
    encode_offset_record(
        out, {OffsetRecordKind::kCommit, std::get<0>(key), std::get<1>(key), std::get<2>(key),
              entry.value.offset, entry.value.metadata, entry.commit_ms});
  }
  return out;
}

Status GroupOffsets::append(const std::vector<std::byte>& bytes) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  Status s = file_->write_at(FilePos(end_), std::span(&iov, 1));
  if (s) s = file_->sync();
  if (!s) {
    // Whatever part reached the file fails its CRC or is overwritten by the next commit; cut it
    // so that a later, shorter record cannot leave a valid-looking remnant behind it.
    (void)file_->truncate(end_);
    return s;
  }
  end_ += bytes.size();
  return {};
}

Status GroupOffsets::commit(std::string_view group, std::string_view topic, std::int32_t partition,
                            std::int64_t offset, std::string_view metadata, std::int64_t now_ms) {
  std::vector<std::byte> record;
  encode_offset_record(record, {OffsetRecordKind::kCommit, std::string(group), std::string(topic),
                                partition, offset, std::string(metadata), now_ms});
  std::lock_guard file_lock(file_mu_);
  if (auto s = append(record); !s) return s;
  std::lock_guard lock(mu_);
  Key key{std::string(group), std::string(topic), partition};
  auto [it, added] = offsets_.insert_or_assign(key, Entry{{offset, std::string(metadata)}, now_ms});
  Group& g = groups_.try_emplace(std::string(group)).first->second;
  g.last_used_ms = std::max(g.last_used_ms, now_ms);
  if (added) ++g.offsets;
  return {};
}

std::optional<CommittedOffset> GroupOffsets::get(std::string_view group, std::string_view topic,
                                                 std::int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = offsets_.find({std::string(group), std::string(topic), partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second.value;
}

std::vector<GroupOffset> GroupOffsets::list(std::string_view group) const {
  std::vector<GroupOffset> out;
  std::lock_guard lock(mu_);
  for (auto it = offsets_.lower_bound({std::string(group), std::string(), INT32_MIN});
       it != offsets_.end() && std::get<0>(it->first) == group; ++it)
    out.push_back({std::get<1>(it->first), std::get<2>(it->first), it->second.value.offset,
                   it->second.value.metadata});
  return out;
}

std::size_t GroupOffsets::size() const {
  std::lock_guard lock(mu_);
  return offsets_.size();
}

void GroupOffsets::touch(std::string_view group, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = groups_.find(group);
  if (it != groups_.end()) it->second.last_used_ms = std::max(it->second.last_used_ms, now_ms);
}

void GroupOffsets::erase_key(const Key& key) {
  if (offsets_.erase(key) == 0) return;
  auto g = groups_.find(std::get<0>(key));
  if (g != groups_.end() && --g->second.offsets == 0) groups_.erase(g);
}

Status GroupOffsets::remove_keys(const std::vector<Key>& keys, std::int64_t now_ms) {
  if (keys.empty()) return {};
  std::vector<std::byte> records;
  for (const Key& key : keys)
    encode_offset_record(records, {OffsetRecordKind::kDelete,
                                   std::get<0>(key),
                                   std::get<1>(key),
                                   std::get<2>(key),
                                   -1,
                                   {},
                                   now_ms});
  if (auto s = append(records); !s) return s;
  std::lock_guard lock(mu_);
  for (const Key& key : keys)
    erase_key(key);
  return {};
}

Result<std::size_t> GroupOffsets::expire(std::int64_t now_ms, std::uint64_t retention_ms,
                                         std::size_t max_offsets) {
  std::lock_guard file_lock(file_mu_);  // no commit between choosing and removing
  std::vector<Key> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, group] : groups_) {
      if (keys.size() >= max_offsets) break;
      if (now_ms - group.last_used_ms < static_cast<std::int64_t>(retention_ms)) continue;
      for (auto it = offsets_.lower_bound({name, std::string(), INT32_MIN});
           it != offsets_.end() && std::get<0>(it->first) == name && keys.size() < max_offsets;
           ++it)
        keys.push_back(it->first);
    }
  }
  if (auto s = remove_keys(keys, now_ms); !s) return fail(s.error());
  return keys.size();
}

Result<std::size_t> GroupOffsets::remove_topic(std::string_view topic, std::int64_t now_ms) {
  std::lock_guard file_lock(file_mu_);
  std::vector<Key> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, entry] : offsets_)
      if (std::get<1>(key) == topic) keys.push_back(key);
  }
  if (auto s = remove_keys(keys, now_ms); !s) return fail(s.error());
  return keys.size();
}

}  // namespace ringlog
