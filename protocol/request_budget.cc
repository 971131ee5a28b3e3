#include "protocol/request_budget.h"

#include <algorithm>

#include "io/assert.h"

namespace ringlog::protocol {

bool RequestBudget::reserve(std::uint64_t id, std::size_t bytes) {
  RINGLOG_ASSERT(bytes > 0 && bytes <= limit_bytes_);
  if (waiting_.empty() && bytes <= limit_bytes_ - used_bytes_) {
    used_bytes_ += bytes;
    return true;
  }
  waiting_.push_back({id, bytes});
  return false;
}

void RequestBudget::release(std::size_t bytes) noexcept {
  RINGLOG_ASSERT(bytes <= used_bytes_);
  used_bytes_ -= bytes;
}

std::vector<RequestBudget::Grant> RequestBudget::grant() {
  std::vector<Grant> granted;
  while (!waiting_.empty() && waiting_.front().bytes <= limit_bytes_ - used_bytes_) {
    used_bytes_ += waiting_.front().bytes;
    granted.push_back(waiting_.front());
    waiting_.pop_front();
  }
  return granted;
}

void RequestBudget::forget(std::uint64_t id) {
  std::erase_if(waiting_, [id](const Grant& g) { return g.id == id; });
}

}  // namespace ringlog::protocol
