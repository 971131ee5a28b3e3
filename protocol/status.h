// Stable reply codes of the line protocol and their mapping to and from ringlog::Errc.
//
// The codes are part of the wire format (docs/protocol.md section 4): they never change once
// released. The mapping is one-to-one for every code, so a client turns `error <code> ...` back
// into the Errc the server started from (kBusy and kClosed both become 503 -> kBusy).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <ringlog/error.h>

namespace ringlog::protocol {

enum class StatusCode : std::uint16_t {
  kBadRequest = 400,
  kLimitExceeded = 403,  // a server limit (--max-topics, --max-partitions) refuses a creation
  kNotFound = 404,
  kConflict = 409,
  kTooLarge = 413,
  kOutOfRange = 416,
  kInternal = 500,
  kBusy = 503,
  kDiskFull = 507,
  kDataLoss = 510,  // the offsets asked for were acknowledged but their data is lost (damage)
};

constexpr int to_int(StatusCode code) noexcept {
  return static_cast<int>(code);
}

// 400 -> StatusCode::kBadRequest; nullopt for a number that is not a protocol code.
std::optional<StatusCode> status_code_from_int(int code) noexcept;

// "bad request", "unknown topic or partition", ...
std::string_view status_code_text(StatusCode code) noexcept;

// not_found -> 404, already_exists -> 409, invalid_argument -> 400, too_large -> 413,
// out_of_range -> 416, busy/closed -> 503, no_space -> 507, data_loss -> 510, limit_exceeded ->
// 403, anything else -> 500.
StatusCode status_code_from_errc(Errc errc) noexcept;

// The inverse used by clients: 404 -> kNotFound, ..., 500 -> kInternal.
Errc errc_from_status_code(StatusCode code) noexcept;

}  // namespace ringlog::protocol
