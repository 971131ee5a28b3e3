// Encoders for the replies of the line protocol (docs/protocol.md section 2). Each appends one
// complete line, "\r\n" included, to `out`; the bytes that follow a `msg` or `batches` line are
// appended (or sent) by the caller, followed by `append_crlf`.
//
// Nothing here fails or allocates beyond growing `out`. Free text (error messages, stat values)
// is sanitised: a byte below 0x20 or 0x7f becomes a space, so a reply is always one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/status.h"

namespace ringlog::protocol {

inline constexpr std::string_view kProtocolVersion = "0.1.0";

void append_crlf(std::string& out);
void append_ok(std::string& out);                                         // ok
void append_ok(std::string& out, std::int64_t offset);                    // ok <offset>
void append_ok(std::string& out, std::int64_t first, std::int64_t last);  // ok <first> <last>
void append_pong(std::string& out);                                       // pong
void append_version(std::string& out, std::string_view semver);           // version <semver>
void append_error(std::string& out, StatusCode code, std::string_view message);
void append_offsets(std::string& out, std::int64_t log_start, std::int64_t high_watermark);
void append_committed(std::string& out, std::int64_t offset);  // offset <n>, -1 for none
void append_topic(std::string& out, std::string_view name, std::int32_t partitions);
void append_partition(std::string& out, std::int32_t partition, std::int64_t log_start,
                      std::int64_t high_watermark);
void append_stat(std::string& out, std::string_view name, std::int64_t value);
void append_stat(std::string& out, std::string_view name, std::string_view value);
void append_end(std::string& out);                            // end
void append_end(std::string& out, std::int64_t next_offset);  // end <next_offset>

// msg <offset> <timestamp_ms> <length> [key=<key>|keyhex=<hex>]; no key token for a null key.
void append_msg_header(std::string& out, std::int64_t offset, std::int64_t timestamp_ms,
                       std::size_t length, std::optional<std::span<const std::byte>> key);

// batches <length> <high_watermark>
void append_batches_header(std::string& out, std::uint64_t length, std::int64_t high_watermark);

// Appends the `get` reply for `batches` (bytes from Engine::read starting at the batch that
// contains `offset`): a `msg` line + value per record at or after `offset`, until the values
// would exceed `max_bytes` (the first record is always whole), then `end <next_offset>`.
// Compressed batches are skipped (their records cannot be shown without inflating them); a cut
// trailing batch is ignored. Returns the next offset.
std::int64_t append_records(std::string& out, std::span<const std::byte> batches,
                            std::int64_t offset, std::int32_t max_bytes);

}  // namespace ringlog::protocol
