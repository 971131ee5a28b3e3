// IovCursor: how much of a caller's iovec array is still to be transferred, so that a short read
// or write can be continued for the remainder (liburing's io_uring-cp.c does the same by hand).
//
// The cursor points into the caller's array until the first partial advance; from then on it
// works on a private copy, because the head iovec has to be shortened. The caller's array must
// outlive the cursor. Internal to io/.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

#include "io/assert.h"

namespace ringlog {

class IovCursor {
 public:
  IovCursor() = default;
  explicit IovCursor(std::span<const iovec> data) : rest_(data) { skip_empty(); }
  IovCursor(const IovCursor&) = delete;
  IovCursor& operator=(const IovCursor&) = delete;
  IovCursor(IovCursor&&) = default;  // moving a vector keeps its buffer, so rest_ stays valid
  IovCursor& operator=(IovCursor&&) = default;

  bool done() const { return rest_.empty(); }
  // What remains, at most `max_count` iovecs of it (IOV_MAX bounds one pwritev/writev).
  std::span<const iovec> rest(std::size_t max_count = 1024) const {
    return rest_.first(rest_.size() < max_count ? rest_.size() : max_count);
  }

  std::size_t bytes() const {
    std::size_t total = 0;
    for (const iovec& v : rest_)
      total += v.iov_len;
    return total;
  }

  // REQUIRES: n <= bytes().
  void advance(std::size_t n) {
    while (n > 0) {
      RINGLOG_ASSERT(!rest_.empty());
      if (n >= rest_[0].iov_len) {
        n -= rest_[0].iov_len;
        rest_ = rest_.subspan(1);
        continue;
      }
      iovec& head = own_head();
      head.iov_base = static_cast<std::byte*>(head.iov_base) + n;
      head.iov_len -= n;
      n = 0;
    }
    skip_empty();
  }

 private:
  void skip_empty() {
    while (!rest_.empty() && rest_[0].iov_len == 0)
      rest_ = rest_.subspan(1);
  }

  iovec& own_head() {
    bool owned = !owned_.empty() && rest_.data() >= owned_.data() &&
                 rest_.data() < owned_.data() + owned_.size();
    if (!owned) {
      owned_.assign(rest_.begin(), rest_.end());
      rest_ = owned_;
    }
    return owned_[static_cast<std::size_t>(rest_.data() - owned_.data())];
  }

  std::span<const iovec> rest_;
  std::vector<iovec> owned_;
};

}  // namespace ringlog
