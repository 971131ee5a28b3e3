#include "engine/group_offsets.h"

#include <cstring>

#include "engine/crc32c.h"
#include "engine/endian.h"
#include "engine/file_util.h"
#include "engine/names.h"

namespace ringlog {

namespace {

// [u32 body length][u32 crc32c(body)] body = [u16 group len][group][u16 topic len][topic]
// [i32 partition][i64 offset][u32 metadata len][metadata]
void append_record(std::vector<std::byte>& out, std::string_view group, std::string_view topic,
                   std::int32_t partition, std::int64_t offset, std::string_view metadata) {
  std::size_t body = 2 + group.size() + 2 + topic.size() + 4 + 8 + 4 + metadata.size();
  std::size_t at = out.size();
  out.resize(at + 8 + body);
  std::byte* p = out.data() + at + 8;
  auto put_string16 = [&](std::string_view s) {
    store_be<std::uint16_t>(p, static_cast<std::uint16_t>(s.size()));
    if (!s.empty()) std::memcpy(p + 2, s.data(), s.size());
    p += 2 + s.size();
  };
  put_string16(group);
  put_string16(topic);
  store_be<std::int32_t>(p, partition);
  store_be<std::int64_t>(p + 4, offset);
  store_be<std::uint32_t>(p + 12, static_cast<std::uint32_t>(metadata.size()));
  if (!metadata.empty()) std::memcpy(p + 16, metadata.data(), metadata.size());
  store_be<std::uint32_t>(out.data() + at, static_cast<std::uint32_t>(body));
  store_be<std::uint32_t>(out.data() + at + 4, crc32c(std::span(out.data() + at + 8, body)));
}

struct Decoded {
  std::string group, topic, metadata;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::size_t bytes = 0;
};

// Decodes the record at the start of `data`; nullopt if it is torn or damaged.
std::optional<Decoded> decode_record(std::span<const std::byte> data) {
  if (data.size() < 8) return std::nullopt;
  std::uint32_t body = load_be<std::uint32_t>(data.data());
  if (body < 20 || body > data.size() - 8) return std::nullopt;
  auto payload = data.subspan(8, body);
  if (crc32c(payload) != load_be<std::uint32_t>(data.data() + 4)) return std::nullopt;
  Decoded d;
  const std::byte* p = payload.data();
  const std::byte* end = p + payload.size();
  auto get_string16 = [&](std::string& out) {
    if (end - p < 2) return false;
    std::size_t n = load_be<std::uint16_t>(p);
    if (static_cast<std::size_t>(end - p) < 2 + n) return false;
    out.assign(reinterpret_cast<const char*>(p + 2), n);
    p += 2 + n;
    return true;
  };
  if (!get_string16(d.group) || !get_string16(d.topic) || end - p < 16) return std::nullopt;
  d.partition = load_be<std::int32_t>(p);
  d.offset = load_be<std::int64_t>(p + 4);
  std::size_t meta = load_be<std::uint32_t>(p + 12);
  p += 16;
  if (static_cast<std::size_t>(end - p) != meta) return std::nullopt;
  d.metadata.assign(reinterpret_cast<const char*>(p), meta);
  d.bytes = 8 + body;
  return d;
}

}  // namespace

Result<std::unique_ptr<GroupOffsets>> GroupOffsets::open(Env& env, std::string dir) {
  std::unique_ptr<GroupOffsets> store(new GroupOffsets(env, std::move(dir)));
  if (auto s = store->load_and_compact(); !s) return fail(s.error());
  return store;
}

Status GroupOffsets::load_and_compact() {
  std::string path = join_path(dir_, kGroupOffsetsFileName);
  auto bytes = read_whole_file(env_, path);
  if (!bytes && bytes.error().code() != Errc::kNotFound) return fail(bytes.error());
  if (bytes) {
    std::span<const std::byte> rest(*bytes);
    while (auto d = decode_record(rest)) {
      offsets_[{d->group, d->topic, d->partition}] = {d->offset, d->metadata};
      rest = rest.subspan(d->bytes);
    }
  }
  std::vector<std::byte> compacted;
  for (const auto& [key, value] : offsets_)
    append_record(compacted, std::get<0>(key), std::get<1>(key), std::get<2>(key), value.offset,
                  value.metadata);
  if (auto s = write_file_atomically(env_, dir_, kGroupOffsetsFileName, compacted); !s) return s;
  auto file = env_.open_file(path, OpenMode::kReadWrite);
  if (!file) return fail(file.error());
  file_ = std::move(*file);
  end_ = compacted.size();
  return {};
}

Status GroupOffsets::commit(std::string_view group, std::string_view topic, std::int32_t partition,
                            std::int64_t offset, std::string_view metadata) {
  std::vector<std::byte> record;
  append_record(record, group, topic, partition, offset, metadata);
  std::lock_guard lock(mu_);
  iovec iov{record.data(), record.size()};
  Status s = file_->write_at(FilePos(end_), std::span(&iov, 1));
  if (s) s = file_->sync();
  if (!s) {
    // Whatever part reached the file fails its CRC or is overwritten by the next commit; cut it
    // so that a later, shorter record cannot leave a valid-looking remnant behind it.
    (void)file_->truncate(end_);
    return s;
  }
  end_ += record.size();
  offsets_[{std::string(group), std::string(topic), partition}] = {offset, std::string(metadata)};
  return {};
}

std::optional<CommittedOffset> GroupOffsets::get(std::string_view group, std::string_view topic,
                                                 std::int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = offsets_.find({std::string(group), std::string(topic), partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

std::vector<GroupOffset> GroupOffsets::list(std::string_view group) const {
  std::vector<GroupOffset> out;
  std::lock_guard lock(mu_);
  for (auto it = offsets_.lower_bound({std::string(group), std::string(), INT32_MIN});
       it != offsets_.end() && std::get<0>(it->first) == group; ++it)
    out.push_back(
        {std::get<1>(it->first), std::get<2>(it->first), it->second.offset, it->second.metadata});
  return out;
}

std::size_t GroupOffsets::size() const {
  std::lock_guard lock(mu_);
  return offsets_.size();
}

}  // namespace ringlog
