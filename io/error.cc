// The one place where errno values become ringlog Errors.
#include <ringlog/error.h>

#include <cerrno>
#include <cstring>

namespace ringlog {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::kIo:
      return "io";
    case Errc::kNoSpace:
      return "no_space";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kAlreadyExists:
      return "already_exists";
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kCorruption:
      return "corruption";
    case Errc::kOutOfRange:
      return "out_of_range";
    case Errc::kBusy:
      return "busy";
    case Errc::kTooLarge:
      return "too_large";
    case Errc::kClosed:
      return "closed";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kTimedOut:
      return "timed_out";
    case Errc::kPermissionDenied:
      return "permission_denied";
    case Errc::kInternal:
      return "internal";
    case Errc::kDataLoss:
      return "data_loss";
    case Errc::kLimitExceeded:
      return "limit_exceeded";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string out(errc_name(code_));
  out += ": ";
  out += message_;
  return out;
}

Error Error::with_context(std::string_view context) const {
  std::string message(context);
  message += ": ";
  message += message_;
  return Error(code_, std::move(message), sys_errno_);
}

namespace {

// On Linux EWOULDBLOCK == EAGAIN and ENOTSUP == EOPNOTSUPP, so they need no case of their own.
Errc errc_from_errno(int sys_errno) noexcept {
  switch (sys_errno) {
    case ENOSPC:
    case EDQUOT:
      return Errc::kNoSpace;
    case ENOENT:
    case ENOTDIR:
      return Errc::kNotFound;
    case EEXIST:
    case ENOTEMPTY:
      return Errc::kAlreadyExists;
    case EINVAL:
    case EBADF:
    case ENAMETOOLONG:
    case EISDIR:
      return Errc::kInvalidArgument;
    case EAGAIN:
    case EBUSY:
      return Errc::kBusy;
    case EFBIG:
    case EMSGSIZE:
    case E2BIG:
      return Errc::kTooLarge;
    case ENOSYS:
    case EOPNOTSUPP:
      return Errc::kUnsupported;
    case ETIMEDOUT:
    case ETIME:
      return Errc::kTimedOut;
    case EACCES:
    case EPERM:
    case EROFS:
      return Errc::kPermissionDenied;
    case EPIPE:
    case ECONNRESET:
    case ECONNABORTED:
    case ECANCELED:
    case ESHUTDOWN:
      return Errc::kClosed;
    default:
      return Errc::kIo;
  }
}

}  // namespace

Error error_from_errno(int sys_errno, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += std::strerror(sys_errno);
  return Error(errc_from_errno(sys_errno), std::move(message), sys_errno);
}

}  // namespace ringlog
