// Internal pieces of the RecordBatch v2 codec (the public API is ringlog/batch.h).
//
// decode_record() is the one place where a record's bytes are interpreted; record iteration,
// batch validation and header iteration all go through it or its helpers, so every length is
// checked against the end of the enclosing record the same way everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "ringlog/batch.h"

namespace ringlog::internal {

// A record as it is encoded, before the batch's base offset and timestamp are applied.
struct RawRecord {
  std::int8_t attributes = 0;
  std::int64_t timestamp_delta = 0;
  std::int32_t offset_delta = 0;
  std::optional<std::span<const std::byte>> key;
  std::optional<std::span<const std::byte>> value;
  std::int32_t header_count = 0;
  std::span<const std::byte> header_bytes;
};

// Reads a varint length then that many bytes; -1 gives nullopt. Fails on a length below -1, a
// length past `end`, or a bad varint. Advances p past the field on success.
bool get_nullable_bytes(const std::byte*& p, const std::byte* end,
                        std::optional<std::span<const std::byte>>& out) noexcept;

// Reads one record header (non-null key, nullable value) bounded by `end`.
bool get_record_header(const std::byte*& p, const std::byte* end, RecordHeader& out) noexcept;

// Decodes the length-prefixed record at p, bounded by `end` (the batch end). On success p is
// just past the record, whose fields ended exactly at its declared length.
bool decode_record(const std::byte*& p, const std::byte* end, RawRecord& out) noexcept;

// The encoded size of a record body (everything after the length varint).
std::size_t record_body_bytes(std::int64_t timestamp_delta, std::int32_t offset_delta,
                              const std::optional<std::span<const std::byte>>& key,
                              const std::optional<std::span<const std::byte>>& value,
                              std::span<const RecordHeader> headers) noexcept;

// Writes a whole record (length varint first) and returns the byte after it.
// REQUIRES: room for varint_size(body) + body bytes, body == record_body_bytes(...).
std::byte* put_record(std::byte* p, std::size_t body, std::int64_t timestamp_delta,
                      std::int32_t offset_delta,
                      const std::optional<std::span<const std::byte>>& key,
                      const std::optional<std::span<const std::byte>>& value,
                      std::span<const RecordHeader> headers) noexcept;

}  // namespace ringlog::internal
