// ringlog's one error model.
//
// Every fallible function in io/ and engine/ returns `Result<T>` (a `std::expected<T, Error>`)
// or `Status` (a `Result<void>`). No exception crosses io/ or engine/. An `Error` carries a
// stable category (`Errc`), the errno that caused it when the world said no (0 otherwise), and a
// human message that names what was being done ("write /data/t/0/00000000000000000000.log").
//
// errno is turned into an Error in exactly one place: `error_from_errno()` in io/error.cc.
// Programmer errors are not Errors: they are RINGLOG_ASSERT failures (see io/assert.h).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace ringlog {

// Stable error categories. Protocols map these to their own codes (line protocol: 400, 404, 416,
// 507, 510, ...; Kafka: error codes), so the numeric values never change once released.
enum class Errc : std::uint8_t {
  kIo = 1,               // EIO and other failures of the device or kernel
  kNoSpace = 2,          // ENOSPC / EDQUOT: the disk is full
  kNotFound = 3,         // no such file, topic or partition
  kAlreadyExists = 4,    // the thing to create is there already
  kInvalidArgument = 5,  // a request that can never succeed as written (bad name, bad size)
  kCorruption = 6,       // stored data fails a check (CRC, length, contiguity)
  kOutOfRange = 7,       // an offset outside [log start, log end]
  kBusy = 8,             // try again later (queue full, lock held by another process)
  kTooLarge = 9,         // above a configured limit (message size, batch size)
  kClosed = 10,          // the engine, ring or connection is shut down
  kUnsupported = 11,     // the kernel or sandbox refuses a feature (io_uring, an opcode)
  kTimedOut = 12,        // a deadline passed
  kPermissionDenied = 13,
  kInternal = 14,       // a failure that is neither the caller's nor the world's fault
  kDataLoss = 15,       // acknowledged data is missing from the log (files lost or cut)
  kLimitExceeded = 16,  // a configured server-wide limit refuses it (max_topics, max_partitions)
};

// A short stable name for a category: "io", "no_space", "not_found", ...
std::string_view errc_name(Errc code) noexcept;

class [[nodiscard]] Error {
 public:
  Error(Errc code, std::string message, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  Errc code() const noexcept { return code_; }
  // The errno behind this error, or 0 when the error did not come from the kernel.
  int sys_errno() const noexcept { return sys_errno_; }
  const std::string& message() const noexcept { return message_; }

  // "no_space: write /data/t/0/...: No space left on device"
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context` and ": ".
  Error with_context(std::string_view context) const;

 private:
  Errc code_;
  int sys_errno_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// `return fail(Errc::kNotFound, "topic 'x' does not exist");`
inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(std::in_place, code, std::move(message));
}
inline std::unexpected<Error> fail(Error error) {
  return std::unexpected<Error>(std::move(error));
}

// Maps an errno value to an Error (ENOSPC -> kNoSpace, ENOENT -> kNotFound, EIO -> kIo, ...),
// with `context` naming the operation and its object. Defined in io/error.cc, the only place
// where errno values are interpreted.
Error error_from_errno(int sys_errno, std::string_view context);

}  // namespace ringlog
