// ringlog dump FILE: the batches and records of a segment file (or the entries of an index).
#include <cstdio>

#include <ringlog/batch.h>

#include "cli/commands.h"
#include "cli/segment_files.h"
#include "cli/text.h"

namespace ringlog::cli {
namespace {

struct DumpOptions {
  std::string file;
  bool batches_only = false;
  std::size_t max_value_bytes = 256;
};

std::string file_name_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::string batch_text(std::uint64_t pos, const ParsedBatch& parsed, const DumpOptions& options) {
  const BatchView& b = parsed.batch;
  char line[512];
  std::snprintf(
      line, sizeof line,
      "batch at byte %llu: offsets %lld..%lld, %d records, %zu bytes, crc %08x %s, "
      "compression %s, %s %s..%s, producer %lld/%d/%d, leader epoch %d%s%s\n",
      static_cast<unsigned long long>(pos), static_cast<long long>(b.base_offset()),
      static_cast<long long>(b.last_offset()), b.record_count(), b.size_bytes(), b.crc(),
      parsed.status == ParseStatus::kCrcMismatch ? "MISMATCH" : "ok",
      compression_name(b.compression()), b.is_log_append_time() ? "LogAppendTime" : "CreateTime",
      format_timestamp_ms(b.base_timestamp_ms()).c_str(),
      format_timestamp_ms(b.max_timestamp_ms()).c_str(), static_cast<long long>(b.producer_id()),
      b.producer_epoch(), b.base_sequence(), b.leader_epoch(),
      b.is_transactional() ? ", transactional" : "", b.is_control() ? ", control" : "");
  std::string out = line;
  if (options.batches_only) return out;
  RecordRange records = b.records();
  for (const RecordView& r : records) {
    out += "  offset " + std::to_string(r.offset) + "  " + format_timestamp_ms(r.timestamp_ms) +
           "  key " + escape_for_display(r.key, options.max_value_bytes) + "  value " +
           escape_for_display(r.value, options.max_value_bytes);
    if (r.header_count > 0) out += "  (" + std::to_string(r.header_count) + " headers)";
    out += '\n';
  }
  if (records.status() != ParseStatus::kOk)
    out += "  records: " + std::string(parse_status_name(records.status())) + "\n";
  return out;
}

std::string batch_json(std::uint64_t pos, const ParsedBatch& parsed, const DumpOptions& options) {
  const BatchView& b = parsed.batch;
  std::string out = "{\"position\":" + std::to_string(pos) +
                    ",\"base_offset\":" + std::to_string(b.base_offset()) +
                    ",\"last_offset\":" + std::to_string(b.last_offset()) +
                    ",\"record_count\":" + std::to_string(b.record_count()) +
                    ",\"size_bytes\":" + std::to_string(b.size_bytes()) +
                    ",\"crc\":" + std::to_string(b.crc()) +
                    ",\"crc_ok\":" + (parsed.ok() ? "true" : "false") +
                    ",\"attributes\":" + std::to_string(b.attributes()) +
                    ",\"base_timestamp\":" + std::to_string(b.base_timestamp_ms()) +
                    ",\"max_timestamp\":" + std::to_string(b.max_timestamp_ms()) +
                    ",\"producer_id\":" + std::to_string(b.producer_id()) +
                    ",\"producer_epoch\":" + std::to_string(b.producer_epoch()) +
                    ",\"base_sequence\":" + std::to_string(b.base_sequence()) +
                    ",\"leader_epoch\":" + std::to_string(b.leader_epoch());
  if (!options.batches_only) {
    out += ",\"records\":[";
    bool first = true;
    for (const RecordView& r : b.records()) {
      out += first ? "" : ",";
      first = false;
      out += "{\"offset\":" + std::to_string(r.offset) +
             ",\"timestamp\":" + std::to_string(r.timestamp_ms) + ",";
      append_json_bytes_field(out, "key", r.key);
      out += ',';
      append_json_bytes_field(out, "value", r.value);
      out += ",\"headers\":" + std::to_string(r.header_count) + "}";
    }
    out += "]";
  }
  return out + "}\n";
}

// Prints every batch; returns false when a batch fails its check or the file ends in something
// other than a clean end.
bool dump_log(std::span<const std::byte> bytes, const DumpOptions& options, bool json) {
  bool intact = true;
  ParseOptions parse;
  parse.max_batch_bytes = std::size_t{1} << 31;
  std::uint64_t pos = 0;
  for (;;) {
    ParsedBatch parsed = parse_batch(bytes.subspan(pos), parse);
    bool sound = parsed.ok() || parsed.status == ParseStatus::kCrcMismatch ||
                 parsed.status == ParseStatus::kMalformedRecord;
    if (!sound) {
      std::string status(parse_status_name(parsed.status));
      if (json) {
        std::printf("{\"end\":\"%s\",\"position\":%llu}\n", status.c_str(),
                    static_cast<unsigned long long>(pos));
      } else {
        std::printf("end at byte %llu: %s%s\n", static_cast<unsigned long long>(pos),
                    status.c_str(),
                    parsed.status == ParseStatus::kZeroFilled ? " (preallocated space)" : "");
      }
      return intact && (parsed.status == ParseStatus::kEndOfData ||
                        parsed.status == ParseStatus::kZeroFilled);
    }
    intact = intact && parsed.ok();
    std::string out = json ? batch_json(pos, parsed, options) : batch_text(pos, parsed, options);
    std::fwrite(out.data(), 1, out.size(), stdout);
    pos += parsed.bytes;
  }
}

void dump_index(std::span<const std::byte> bytes, std::int64_t base, bool time, bool json) {
  if (time) {
    auto entries = decode_time_index(bytes);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      long long offset = base + entries[i].relative_offset;
      long long ts = entries[i].timestamp_ms;
      if (json) {
        std::printf("{\"entry\":%zu,\"timestamp\":%lld,\"offset\":%lld}\n", i, ts, offset);
      } else {
        std::printf("entry %zu: timestamp %lld (%s) -> offset %lld\n", i, ts,
                    format_timestamp_ms(ts).c_str(), offset);
      }
    }
    return;
  }
  auto entries = decode_offset_index(bytes);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    long long offset = base + entries[i].relative_offset;
    unsigned position = entries[i].position;
    if (json) {
      std::printf("{\"entry\":%zu,\"offset\":%lld,\"position\":%u}\n", i, offset, position);
    } else {
      std::printf("entry %zu: offset %lld -> byte %u\n", i, offset, position);
    }
  }
}

int run_dump(const CommonOptions& common, const DumpOptions& options) {
  auto file = value_or_fail(MappedFile::open(options.file), "dump");
  std::string name = file_name_of(options.file);
  auto index_base = parse_segment_file_name(name, kIndexSuffix);
  auto time_base = parse_segment_file_name(name, kTimeIndexSuffix);
  if (index_base || time_base) {
    dump_index(file.bytes(), index_base ? *index_base : *time_base, time_base.has_value(),
               common.json);
    return kExitOk;
  }
  return dump_log(file.bytes(), options, common.json) ? kExitOk : kExitCorruption;
}

}  // namespace

void add_dump_command(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<DumpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dump", "print the batches and records of a segment file (or an index file's entries)");
  cmd->add_option("file", options->file, "a .log segment, .index or .timeindex file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--batches-only", options->batches_only, "print batch headers, not records");
  cmd->add_option("--max-value-bytes", options->max_value_bytes,
                  "show at most this many bytes of each key and value (default 256; text only)");
  add_common_options(*cmd, common, /*with_server=*/false);
  set_example(*cmd, "  ringlog dump ringlog-data/events/0/00000000000000000000.log | less\n");
  cmd->callback([options, &common] {
    apply_log_level(common);
    int code = run_dump(common, *options);
    if (code != kExitOk) {
      std::fflush(stdout);
      throw CommandFailure(code,
                           "the file is damaged: a batch fails its check (MISMATCH above) or the "
                           "file does not end cleanly (last line)");
    }
  });
}

}  // namespace ringlog::cli
