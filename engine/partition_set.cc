#include "engine/partition_set.h"

namespace ringlog {

void PartitionSet::add(const std::shared_ptr<Partition>& partition) {
  std::lock_guard lock(mu_);
  members_.try_emplace(partition.get(), partition);
}

void PartitionSet::add(std::span<const std::shared_ptr<Partition>> partitions) {
  if (partitions.empty()) return;
  std::lock_guard lock(mu_);
  for (const auto& p : partitions)
    members_.try_emplace(p.get(), p);
}

std::vector<std::shared_ptr<Partition>> PartitionSet::take() {
  std::unordered_map<const Partition*, std::shared_ptr<Partition>> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(members_);
  }
  std::vector<std::shared_ptr<Partition>> out;
  out.reserve(taken.size());
  for (auto& [key, p] : taken)
    out.push_back(std::move(p));
  return out;
}

std::size_t PartitionSet::size() const {
  std::lock_guard lock(mu_);
  return members_.size();
}

void DeadlineSchedule::set(const std::shared_ptr<Partition>& partition, std::int64_t deadline) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = entries_.try_emplace(partition.get(), Entry{deadline, partition});
  if (!inserted) {
    by_deadline_.erase({it->second.deadline, partition.get()});
    it->second.deadline = deadline;
  }
  by_deadline_.emplace(deadline, partition.get());
}

void DeadlineSchedule::clear(const Partition& partition) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(&partition);
  if (it == entries_.end()) return;
  by_deadline_.erase({it->second.deadline, &partition});
  entries_.erase(it);
}

std::vector<std::shared_ptr<Partition>> DeadlineSchedule::take_due(std::int64_t now) {
  std::vector<std::shared_ptr<Partition>> due;
  std::lock_guard lock(mu_);
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    auto it = entries_.find(by_deadline_.begin()->second);
    due.push_back(std::move(it->second.partition));
    entries_.erase(it);
    by_deadline_.erase(by_deadline_.begin());
  }
  return due;
}

std::size_t DeadlineSchedule::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace ringlog
