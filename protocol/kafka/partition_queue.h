// PartitionQueue: keeps the Produce work of each partition in arrival order across steps that
// finish later (validating compressed batches on a worker, rebuilding producer state from the
// log), so that the engine receives a partition's appends in the order their requests came.
//
//   queue.submit(key, [&] { ... });     // runs now, or after the partition's earlier work
//   queue.hold(key);  ...later...  queue.release(key);   // around an asynchronous step
//
// Work submitted while a partition is held waits, in order; release() runs it, stopping again
// as soon as a piece of work holds the partition. Holds nest (a count). A partition with
// nothing held and nothing queued costs nothing.
// Threading: one thread (the Broker's event loop).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace ringlog::kafka {

class PartitionQueue {
 public:
  using Key = std::pair<std::string, std::int32_t>;  // topic, partition
  using Work = std::function<void()>;

  void submit(const Key& key, Work work) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return work();
    it->second.queued.push_back(std::move(work));
  }

  void hold(const Key& key) { ++entries_[key].holds; }

  // REQUIRES: held (asserted by the caller's logic: every hold is released once).
  void release(const Key& key) {
    auto it = entries_.find(key);
    if (it == entries_.end() || --it->second.holds > 0) return;
    while (true) {
      it = entries_.find(key);
      if (it == entries_.end() || it->second.holds > 0) return;
      if (it->second.queued.empty()) {
        entries_.erase(it);
        return;
      }
      Work next = std::move(it->second.queued.front());
      it->second.queued.pop_front();
      next();
    }
  }

  bool idle() const noexcept { return entries_.empty(); }

 private:
  struct Entry {
    int holds = 0;
    std::deque<Work> queued;
  };
  std::map<Key, Entry> entries_;
};

}  // namespace ringlog::kafka
