#include "protocol/status.h"

namespace ringlog::protocol {

std::optional<StatusCode> status_code_from_int(int code) noexcept {
  switch (code) {
    case 400:
      return StatusCode::kBadRequest;
    case 403:
      return StatusCode::kLimitExceeded;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kConflict;
    case 413:
      return StatusCode::kTooLarge;
    case 416:
      return StatusCode::kOutOfRange;
    case 500:
      return StatusCode::kInternal;
    case 503:
      return StatusCode::kBusy;
    case 507:
      return StatusCode::kDiskFull;
    case 510:
      return StatusCode::kDataLoss;
    default:
      return std::nullopt;
  }
}

std::string_view status_code_text(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kBadRequest:
      return "bad request";
    case StatusCode::kLimitExceeded:
      return "limit exceeded";
    case StatusCode::kNotFound:
      return "unknown topic or partition";
    case StatusCode::kConflict:
      return "already exists";
    case StatusCode::kTooLarge:
      return "too large";
    case StatusCode::kOutOfRange:
      return "offset out of range";
    case StatusCode::kInternal:
      return "internal error";
    case StatusCode::kBusy:
      return "busy";
    case StatusCode::kDiskFull:
      return "disk full";
    case StatusCode::kDataLoss:
      return "data lost";
  }
  return "unknown";
}

StatusCode status_code_from_errc(Errc errc) noexcept {
  switch (errc) {
    case Errc::kNotFound:
      return StatusCode::kNotFound;
    case Errc::kAlreadyExists:
      return StatusCode::kConflict;
    case Errc::kInvalidArgument:
      return StatusCode::kBadRequest;
    case Errc::kTooLarge:
      return StatusCode::kTooLarge;
    case Errc::kOutOfRange:
      return StatusCode::kOutOfRange;
    case Errc::kBusy:
    case Errc::kClosed:
      return StatusCode::kBusy;
    case Errc::kNoSpace:
      return StatusCode::kDiskFull;
    case Errc::kDataLoss:
      return StatusCode::kDataLoss;
    case Errc::kLimitExceeded:
      return StatusCode::kLimitExceeded;
    default:
      return StatusCode::kInternal;
  }
}

Errc errc_from_status_code(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kBadRequest:
      return Errc::kInvalidArgument;
    case StatusCode::kNotFound:
      return Errc::kNotFound;
    case StatusCode::kConflict:
      return Errc::kAlreadyExists;
    case StatusCode::kTooLarge:
      return Errc::kTooLarge;
    case StatusCode::kOutOfRange:
      return Errc::kOutOfRange;
    case StatusCode::kInternal:
      return Errc::kInternal;
    case StatusCode::kBusy:
      return Errc::kBusy;
    case StatusCode::kDiskFull:
      return Errc::kNoSpace;
    case StatusCode::kDataLoss:
      return Errc::kDataLoss;
    case StatusCode::kLimitExceeded:
      return Errc::kLimitExceeded;
  }
  return Errc::kInternal;
}

}  // namespace ringlog::protocol
