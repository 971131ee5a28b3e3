// The partitions a periodic task must visit, so that maintenance does work in proportion to
// what changed, never to how many partitions exist (docs/design.md, "Maintenance").
//
// PartitionSet: the partitions changed since the task last took them, each at most once. The
// writer adds the partitions of every cycle (one lock per cycle); the checkpoint and retention
// take them on the maintenance thread.
//
// DeadlineSchedule: at most one deadline per partition (a later set() replaces the earlier
// one); take_due() removes and returns the partitions whose deadline has come, in deadline
// order. Retention schedules when a partition's oldest segment expires by time.
//
// Both hold the partitions (shared_ptr) until they are taken; a deleted partition is taken like
// any other and skipped by the task. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ringlog {

class Partition;

class PartitionSet {
 public:
  void add(const std::shared_ptr<Partition>& partition);
  void add(std::span<const std::shared_ptr<Partition>> partitions);
  // Everything added since the last take, and empties the set.
  std::vector<std::shared_ptr<Partition>> take();
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<const Partition*, std::shared_ptr<Partition>> members_;
};

class DeadlineSchedule {
 public:
  void set(const std::shared_ptr<Partition>& partition, std::int64_t deadline);
  void clear(const Partition& partition);
  // The partitions whose deadline is <= now, earliest first; they leave the schedule.
  std::vector<std::shared_ptr<Partition>> take_due(std::int64_t now);
  std::size_t size() const;

 private:
  struct Entry {
    std::int64_t deadline = 0;
    std::shared_ptr<Partition> partition;
  };
  mutable std::mutex mu_;
  std::unordered_map<const Partition*, Entry> entries_;
  std::set<std::pair<std::int64_t, const Partition*>> by_deadline_;
};

}  // namespace ringlog
