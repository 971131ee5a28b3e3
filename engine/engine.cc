// EngineImpl: open and recovery of the data directory, topics, reads, group offsets,
// maintenance, close. The write path (group commit) is in writer.cc.
#include "engine/engine_impl.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>
#include <utility>

#include "engine/file_layout.h"
#include "engine/file_util.h"
#include "engine/quarantine.h"
#include "engine/topic_config.h"
#include "io/assert.h"
#include "io/log.h"

namespace ringlog {

std::uint64_t monotonic_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  auto engine = std::make_unique<EngineImpl>(std::move(options));
  if (auto s = engine->start(); !s) return fail(s.error());
  return std::unique_ptr<Engine>(std::move(engine));
}

EngineImpl::EngineImpl(EngineOptions options)
    : options_(std::move(options)),
      space_budget_(options_.preallocation_budget),
      files_(std::max<std::size_t>(options_.max_open_files, 1)) {}

EngineImpl::~EngineImpl() {
  if (auto s = close(); !s)
    RINGLOG_ERROR("engine: close in destructor failed: %s", s.error().to_string().c_str());
}

// ---------------------------------------------------------------------------------------------
// Open

Status EngineImpl::validate_options() const {
  auto bad = [](std::string why) { return fail(Errc::kInvalidArgument, "engine options: " + why); };
  if (options_.data_dir.empty()) return bad("data_dir is empty");
  if (options_.segment_bytes < 4096 || options_.segment_bytes > (3ull << 30))
    return bad("segment_bytes must be in [4 KiB, 3 GiB]");
  if (options_.max_batch_bytes < kBatchHeaderBytes || options_.max_batch_bytes > (256u << 20))
    return bad("max_batch_bytes must be in [61 B, 256 MiB]");
  if (options_.max_append_bytes < options_.max_batch_bytes)
    return bad("max_append_bytes must be at least max_batch_bytes");
  if (options_.max_uncompressed_batch_bytes < options_.max_batch_bytes)
    return bad("max_uncompressed_batch_bytes must be at least max_batch_bytes");
  if (options_.default_partitions < 1 || options_.default_partitions > 10000)
    return bad("default_partitions must be in [1, 10000]");
  if (options_.durability.mode == Durability::Mode::kInterval &&
      options_.durability.interval_ms == 0)
    return bad("interval durability needs interval_ms > 0");
  if (options_.index_interval_bytes == 0) return bad("index_interval_bytes must be > 0");
  if (options_.max_open_files < 16) return bad("max_open_files must be at least 16");
  if (options_.preallocation_min_step < 4096)
    return bad("preallocation_min_step must be at least 4 KiB");
  if (options_.preallocation_max_step < options_.preallocation_min_step)
    return bad("preallocation_max_step must be at least preallocation_min_step");
  if (options_.checkpoint_interval_ms == 0) return bad("checkpoint_interval_ms must be > 0");
  if (options_.max_pending_bytes == 0) return bad("max_pending_bytes must be > 0");
  if (options_.offsets_retention_ms == 0) return bad("offsets_retention_ms must be > 0");
  if (const auto& c = options_.auto_create_topic_config) {
    if (c->partitions < 1 || c->partitions > 10000)
      return bad("auto_create_topic_config: partitions must be in [1, 10000]");
  }
  if (auto problem =
          space_reserve_problem({options_.min_free_space, options_.min_free_space_percent});
      !problem.empty())
    return bad(problem);
  if (options_.max_topics == 0) return bad("max_topics must be at least 1");
  if (options_.max_partitions == 0) return bad("max_partitions must be at least 1");
  return {};
}

PartitionConfig EngineImpl::effective_config(const TopicConfig& config) const {
  PartitionConfig out;
  out.durability = config.durability.value_or(options_.durability);
  out.segment_bytes = config.segment_bytes.value_or(options_.segment_bytes);
  out.retention_ms = config.retention_ms.value_or(options_.retention_ms);
  out.retention_bytes = config.retention_bytes.value_or(options_.retention_bytes);
  out.preallocation = options_.preallocation;
  out.reserve_min_step = options_.preallocation_min_step;
  out.reserve_max_step = options_.preallocation_max_step;
  out.index_interval_bytes = options_.index_interval_bytes;
  out.max_batch_bytes = std::max<std::size_t>(options_.max_batch_bytes, kDefaultMaxBatchBytes);
  out.damage_look_ahead_bytes = options_.max_batch_bytes;
  return out;
}

namespace {
// mkdir -p through the Env; each directory it creates is made durable in its parent.
Status create_dirs(Env& env, const std::string& path) {
  std::size_t at = 0;
  while (true) {
    at = path.find('/', at + 1);
    std::string prefix = path.substr(0, at);
    if (!prefix.empty()) {
      auto exists = env.exists(prefix);
      if (!exists) return fail(exists.error());
      if (!*exists) {
        if (auto s = env.create_dir(prefix); !s) return s;
        std::size_t slash = prefix.rfind('/');
        std::string parent =
            slash == std::string::npos ? "." : prefix.substr(0, std::max<std::size_t>(slash, 1));
        if (auto s = env.sync_dir(parent); !s) return s;
      }
    }
    if (at == std::string::npos) return {};
  }
}
}  // namespace

Status EngineImpl::start() {
  if (auto s = validate_options(); !s) return s;
  if (options_.env) {
    env_ = options_.env;
    env_name_ = "custom";
  } else {
    std::string why_not;
    owned_env_ = make_default_env(&why_not);
    env_ = owned_env_.get();
    env_name_ = why_not.empty() ? "uring" : "posix";
    if (!why_not.empty())
      RINGLOG_INFO("engine: io_uring unavailable (%s); using POSIX I/O", why_not.c_str());
  }
  if (auto s = create_dirs(*env_, options_.data_dir); !s) return s;
  if (auto s = lock_data_dir(); !s) return s;
  check_space();  // a server started on a full disk refuses appends from the first one
  std::uint64_t started = monotonic_ms();
  if (auto s = note_quarantine_leftovers(); !s) return s;
  if (auto s = recover_topics(); !s) return s;
  // A topic moved aside may have points in the checkpoint: they must not be applied to a topic
  // created later under the same name.
  if (quarantined_topics_) {
    if (auto s = write_checkpoint(true); !s) return s;
  }
  std::vector<std::string> damage;
  auto offsets = GroupOffsets::open(*env_, options_.data_dir, wall_clock_ms(), damage);
  if (!offsets) return fail(offsets.error());
  for (std::string& line : damage)
    report_damage(std::move(line));
  group_offsets_ = std::move(*offsets);
  recovery_ms_ = monotonic_ms() - started;
  syncer_.start();
  writer_ = std::thread([this] { writer_loop(); });
  completer_ = std::thread([this] { completion_loop(); });
  preparer_ = std::thread([this] { preparer_loop(); });
  maintenance_ = std::thread([this] { maintenance_loop(); });
  started_ = true;
  return {};
}

// Two locks: the directory itself (which no `rm` inside it can release) and `@lock`, which
// older binaries check and which names the owner's pid. check_lock_file() re-creates the latter
// when it goes.
Status EngineImpl::lock_data_dir() {
  auto busy = [&](std::string_view what) {
    return fail(Errc::kBusy, "data directory " + options_.data_dir +
                                 " is in use by another ringlog engine (" + std::string(what) +
                                 " is locked)");
  };
  auto dir_lock = env_->lock_dir(options_.data_dir);
  if (!dir_lock) {
    if (dir_lock.error().code() == Errc::kBusy) return busy("the directory");
    return fail(dir_lock.error());
  }
  auto lock = env_->lock_file(join_path(options_.data_dir, kLockFileName));
  if (!lock) {
    if (lock.error().code() == Errc::kBusy)
      return busy("its lock file " + std::string(kLockFileName));
    return fail(lock.error());
  }
  dir_lock_ = std::move(*dir_lock);
  lock_ = std::move(*lock);
  return {};
}

void EngineImpl::check_lock_file() {
  auto present = lock_->still_at_path();
  if (!present) {
    RINGLOG_WARN("engine: checking the lock file: %s", present.error().to_string().c_str());
    return;
  }
  if (*present) return;
  std::string path = join_path(options_.data_dir, kLockFileName);
  RINGLOG_ERROR(
      "engine: the lock file %s was removed or replaced while this engine owns the directory; "
      "re-creating it (the directory itself stays locked, so no other ringlog can open it)",
      path.c_str());
  auto lock = env_->lock_file(path);
  if (!lock) {
    RINGLOG_ERROR("engine: re-locking %s: %s", path.c_str(), lock.error().to_string().c_str());
    return;
  }
  lock_ = std::move(*lock);
}

void EngineImpl::report_damage(std::string line) {
  std::lock_guard lock(damage_mu_);
  damage_.push_back(std::move(line));
}

Status EngineImpl::note_quarantine_leftovers() {
  std::string dir = quarantine_dir(options_.data_dir);
  auto names = env_->list_dir(dir);
  if (!names) return names.error().code() == Errc::kNotFound ? Status{} : fail(names.error());
  std::sort(names->begin(), names->end());
  for (const std::string& name : *names) {
    std::string path = join_path(dir, name);
    RINGLOG_WARN(
        "engine: %s was moved aside by an earlier start and is still in quarantine: "
        "inspect it, then remove it or put it back (docs/durability.md)",
        path.c_str());
    report_damage(path + ": moved aside by an earlier start, still in quarantine");
  }
  return {};
}

Status EngineImpl::recover_topics() {
  const std::string& data = options_.data_dir;
  std::string marker = join_path(data, kCleanShutdownFileName);
  auto clean = env_->exists(marker);
  if (!clean) return fail(clean.error());
  Checkpoint checkpoint;
  bool same_boot = false;
  auto bytes = read_whole_file(*env_, join_path(data, kCheckpointFileName));
  if (bytes) {
    auto decoded = decode_checkpoint(*bytes);
    if (decoded) {
      checkpoint = std::move(decoded->points);
      same_boot = !decoded->boot_id.empty() && decoded->boot_id == env_->boot_id();
      for (const std::string& why : decoded->damage) {
        RINGLOG_ERROR("engine: %s: %s; those partitions are recovered by a scan of every segment",
                      join_path(data, kCheckpointFileName).c_str(), why.c_str());
        report_damage(why);
      }
    } else {
      RINGLOG_ERROR(
          "engine: %s is unreadable (%s); recovering by scanning every segment, "
          "without the checkpoint's guard against lost files",
          join_path(data, kCheckpointFileName).c_str(), decoded.error().to_string().c_str());
      report_damage(decoded.error().message());
      *clean = false;
    }
  } else if (bytes.error().code() != Errc::kNotFound) {
    return fail(bytes.error());
  } else {
    *clean = false;
  }
  recovered_clean_ = *clean;
  auto names = env_->list_dir(data);
  if (!names) return fail(names.error());
  std::sort(names->begin(), names->end());
  for (const std::string& name : *names) {
    if (name.starts_with(kDeletedTopicPrefix)) {
      if (auto s = remove_tree(*env_, join_path(data, name)); !s) return s;
      continue;
    }
    if (!topic_name_problem(name).empty()) continue;  // '@' files and foreign entries
    if (auto s = recover_topic(name, checkpoint, *clean, same_boot); !s) return s;
  }
  // From now on the directory is live: the marker must not survive into a crash.
  if (*clean) {
    if (auto s = env_->remove_file(marker); !s) return s;
    if (auto s = env_->sync_dir(data); !s) return s;
  }
  return {};
}

Status EngineImpl::quarantine_topic(const std::string& name, const std::string& why) {
  std::string dir = join_path(options_.data_dir, name);
  auto moved = move_to_quarantine(*env_, options_.data_dir, name, wall_clock_ms());
  if (!moved) return fail(moved.error().with_context("move " + dir + " into quarantine"));
  RINGLOG_ERROR(
      "engine: topic directory %s %s: moved it to %s (nothing was deleted); topic '%s' does not "
      "exist until it is restored. To restore it, stop ringlog, give it a valid %s (the partition "
      "count is the number of partition directories) and move it back to %s; to discard it, "
      "remove %s",
      dir.c_str(), why.c_str(), moved->c_str(), name.c_str(),
      std::string(kTopicConfigFileName).c_str(), dir.c_str(), moved->c_str());
  report_damage(dir + " " + why + "; moved to " + *moved);
  quarantined_topics_ = true;
  return {};
}

Status EngineImpl::recover_topic(const std::string& name, const Checkpoint& checkpoint, bool clean,
                                 bool same_boot) {
  std::string dir = join_path(options_.data_dir, name);
  auto listing = env_->list_dir(dir);
  if (!listing) return {};  // a file, not a topic directory
  auto text = read_whole_file(*env_, join_path(dir, kTopicConfigFileName));
  if (!text) {
    if (text.error().code() != Errc::kNotFound) return fail(text.error());
    return quarantine_topic(name, "has no " + std::string(kTopicConfigFileName) +
                                      " (a topic creation that did not finish, or a topic whose "
                                      "config file was lost)");
  }
  auto config = decode_topic_config(
      std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
  if (!config && config.error().code() == Errc::kCorruption)
    return quarantine_topic(name, "has a damaged " + std::string(kTopicConfigFileName) + " (" +
                                      config.error().message() + ")");
  if (!config) return fail(config.error().with_context(join_path(dir, kTopicConfigFileName)));
  auto topic = std::make_shared<Topic>();
  topic->name = name;
  topic->stored = *config;
  topic->effective = effective_config(*config);
  for (std::int32_t id = 0; id < config->partitions; ++id) {
    auto p = std::make_shared<Partition>(*env_, name, id, join_path(dir, std::to_string(id)),
                                         topic->effective, space_budget_, files_);
    auto point = checkpoint.find({name, id});
    const RecoveryPoint* rp = point == checkpoint.end() ? nullptr : &point->second;
    auto exists = env_->exists(p->dir());
    if (!exists) return fail(exists.error());
    Status s = *exists ? p->recover(rp, clean && rp != nullptr, same_boot, recovery_stats_)
               : rp    ? p->create_missing(*rp, "its directory and segment files")
                       : p->create();
    if (!s) return fail(s.error().with_context("recover " + name + "/" + std::to_string(id)));
    if (!*exists) {
      if (auto d = env_->sync_dir(dir); !d) return d;
    }
    if (auto info = p->info(); info.corruption)
      report_damage("partition " + name + "/" + std::to_string(id) + ": " + *info.corruption);
    topic->partitions.push_back(std::move(p));
  }
  std::unique_lock lock(topics_mu_);
  topics_[name] = std::move(topic);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Topics

Result<std::shared_ptr<Topic>> EngineImpl::find_topic(std::string_view name) const {
  if (auto problem = topic_name_problem(name); !problem.empty())
    return fail(Errc::kInvalidArgument, "topic '" + std::string(name) + "': " + problem);
  std::shared_lock lock(topics_mu_);
  auto it = topics_.find(name);
  if (it == topics_.end())
    return fail(Errc::kNotFound, "topic '" + std::string(name) + "' does not exist");
  return it->second;
}

Result<std::shared_ptr<Partition>> EngineImpl::find_partition(std::string_view topic,
                                                              std::int32_t partition) const {
  auto t = find_topic(topic);
  if (!t) return fail(t.error());
  if (partition < 0 || partition >= static_cast<std::int32_t>((*t)->partitions.size()))
    return fail(Errc::kNotFound, "topic '" + std::string(topic) + "' has no partition " +
                                     std::to_string(partition) + " (it has " +
                                     std::to_string((*t)->partitions.size()) + ")");
  return (*t)->partitions[static_cast<std::size_t>(partition)];
}

Status EngineImpl::create_topic(std::string_view name, const TopicConfig& config) {
  if (auto problem = topic_name_problem(name); !problem.empty())
    return fail(Errc::kInvalidArgument, "topic '" + std::string(name) + "': " + problem);
  if (config.partitions < 1 || config.partitions > 10000)
    return fail(Errc::kInvalidArgument,
                "topic '" + std::string(name) + "': partitions must be in [1, 10000]");
  if (config.segment_bytes &&
      (*config.segment_bytes < 4096 || *config.segment_bytes > (3ull << 30)))
    return fail(Errc::kInvalidArgument,
                "topic '" + std::string(name) + "': segment_bytes must be in [4 KiB, 3 GiB]");
  if (config.durability && config.durability->mode == Durability::Mode::kInterval &&
      config.durability->interval_ms == 0)
    return fail(Errc::kInvalidArgument,
                "topic '" + std::string(name) + "': interval durability needs interval_ms > 0");
  std::lock_guard admin(admin_mu_);
  {
    std::shared_lock lock(topics_mu_);
    if (closed_) return fail(Errc::kClosed, "engine is closed");
    if (topics_.contains(name))
      return fail(Errc::kAlreadyExists, "topic '" + std::string(name) + "' already exists");
  }
  // Before anything is made on disk.
  if (auto s = check_creation_allowed(name, config.partitions); !s) return s;
  std::string dir = join_path(options_.data_dir, name);
  if (auto s = move_leftover_aside(std::string(name)); !s) return s;
  if (auto s = env_->create_dir(dir); !s) return s;
  auto topic = std::make_shared<Topic>();
  topic->name = std::string(name);
  topic->stored = config;
  topic->effective = effective_config(config);
  if (auto s = build_topic(dir, *topic); !s) {
    // Only what this call created goes, so that failed creations do not pile up on disk.
    topic.reset();
    if (auto cleaned = remove_tree(*env_, dir); !cleaned || !env_->sync_dir(options_.data_dir))
      RINGLOG_WARN(
          "engine: cleaning up the failed creation of %s: %s", dir.c_str(),
          cleaned ? "fsync of the data directory failed" : cleaned.error().to_string().c_str());
    return s;
  }
  checkpoint_changes_.add(topic->partitions);
  std::unique_lock lock(topics_mu_);
  topics_[topic->name] = std::move(topic);
  return {};
}

Status EngineImpl::check_creation_allowed(std::string_view name, std::int32_t partitions) const {
  std::size_t topics = 0;
  std::uint64_t total = 0;
  {
    std::shared_lock lock(topics_mu_);
    topics = topics_.size();
    for (const auto& [topic_name, topic] : topics_)
      total += topic->partitions.size();
  }
  const std::string what = "creating topic '" + std::string(name) + "'";
  if (topics + 1 > options_.max_topics)
    return fail(Errc::kLimitExceeded,
                what + " would exceed the limit of " + std::to_string(options_.max_topics) +
                    " topics (max_topics, --max-topics); delete a topic to make room");
  if (total + static_cast<std::uint64_t>(partitions) > options_.max_partitions)
    return fail(Errc::kLimitExceeded,
                what + " with " + std::to_string(partitions) + " partitions would exceed the " +
                    "limit of " + std::to_string(options_.max_partitions) +
                    " partitions of all topics (max_partitions, --max-partitions; " +
                    std::to_string(total) + " exist); delete a topic to make room");
  if (space_guard_.refusing()) return fail(space_guard_.refusal().with_context(what));
  return {};
}

void EngineImpl::check_space() {
  auto space = env_->fs_space(options_.data_dir);
  if (!space) {
    if (!space_check_failed_.exchange(true))
      RINGLOG_WARN(
          "engine: cannot check the free space of %s: %s (the space guard keeps its "
          "last decision)",
          options_.data_dir.c_str(), space.error().to_string().c_str());
    return;
  }
  space_check_failed_.store(false, std::memory_order_relaxed);
  space_guard_.update(*space);
}

void EngineImpl::note_write_failure(const Error& error) {
  if (error.code() == Errc::kNoSpace) check_space();
}

Status EngineImpl::move_leftover_aside(const std::string& name) {
  std::string dir = join_path(options_.data_dir, name);
  auto leftover = env_->exists(dir);
  if (!leftover) return fail(leftover.error());
  if (!*leftover) return {};
  auto moved = move_to_quarantine(*env_, options_.data_dir, name, wall_clock_ms());
  if (!moved) return fail(moved.error().with_context("move " + dir + " into quarantine"));
  RINGLOG_ERROR(
      "engine: creating topic '%s': %s already existed (not a topic this engine "
      "knows); moved it to %s instead of deleting it: inspect it, then remove it",
      name.c_str(), dir.c_str(), moved->c_str());
  report_damage(dir + " existed when topic '" + name + "' was created; moved to " + *moved);
  return {};
}

// The partitions and the config file of a new topic, in `dir` (just created).
Status EngineImpl::build_topic(const std::string& dir, Topic& topic) {
  if (auto s = env_->sync_dir(options_.data_dir); !s) return s;
  for (std::int32_t id = 0; id < topic.stored.partitions; ++id) {
    auto p = std::make_shared<Partition>(*env_, topic.name, id, join_path(dir, std::to_string(id)),
                                         topic.effective, space_budget_, files_);
    if (auto s = p->create(); !s) return s;
    topic.partitions.push_back(std::move(p));
  }
  if (auto s = env_->sync_dir(dir); !s) return s;
  std::string text = encode_topic_config(topic.stored);
  return write_file_atomically(*env_, dir, kTopicConfigFileName,
                               std::as_bytes(std::span(text.data(), text.size())));
}

Status EngineImpl::delete_topic(std::string_view name) {
  std::lock_guard admin(admin_mu_);
  auto topic = find_topic(name);
  if (!topic) return fail(topic.error());
  {
    std::unique_lock commits(commit_topics_mu_);  // commits in progress to it are stored
    std::unique_lock lock(topics_mu_);
    topics_.erase(topics_.find(name));
  }
  for (const auto& p : (*topic)->partitions)
    p->mark_deleted();
  // The checkpoint must stop describing these files before they go: a topic created later
  // under the same name must not inherit its recovery points.
  checkpoint_changes_.add((*topic)->partitions);
  if (auto s = write_checkpoint(true); !s) return s;
  std::string dir = join_path(options_.data_dir, name);
  std::string graveyard =
      join_path(options_.data_dir, std::string(kDeletedTopicPrefix) + std::string(name) + "-" +
                                       std::to_string(monotonic_ms()));
  if (auto s = env_->rename_file(dir, graveyard); !s) return s;
  if (auto s = env_->sync_dir(options_.data_dir); !s) return s;
  // Like Kafka, the committed offsets of a deleted topic go with it.
  auto removed = group_offsets_->remove_topic(name, wall_clock_ms());
  if (!removed)
    return fail(removed.error().with_context("remove the offsets of topic " + std::string(name)));
  return remove_tree(*env_, graveyard);
}

std::vector<std::string> EngineImpl::list_topics() const {
  std::shared_lock lock(topics_mu_);
  std::vector<std::string> names;
  for (const auto& [name, topic] : topics_)
    names.push_back(name);
  return names;
}

Result<TopicInfo> EngineImpl::describe_topic(std::string_view name) const {
  auto topic = find_topic(name);
  if (!topic) return fail(topic.error());
  TopicInfo info;
  info.name = (*topic)->name;
  info.durability = (*topic)->effective.durability;
  info.segment_bytes = (*topic)->effective.segment_bytes;
  info.retention_ms = (*topic)->effective.retention_ms;
  info.retention_bytes = (*topic)->effective.retention_bytes;
  for (const auto& p : (*topic)->partitions)
    info.partitions.push_back(p->info());
  return info;
}

std::vector<std::shared_ptr<Partition>> EngineImpl::all_partitions() const {
  std::vector<std::shared_ptr<Partition>> out;
  std::shared_lock lock(topics_mu_);
  for (const auto& [name, topic] : topics_)
    out.insert(out.end(), topic->partitions.begin(), topic->partitions.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Appends (validation and queueing; the commit is in writer.cc)

Result<std::shared_ptr<Partition>> EngineImpl::partition_for_append(std::string_view topic,
                                                                    std::int32_t partition) {
  auto p = find_partition(topic, partition);
  if (p || p.error().code() != Errc::kNotFound || !options_.auto_create_topics) return p;
  if (find_topic(topic)) return p;  // the topic exists, the partition does not
  TopicConfig config;
  config.partitions = options_.default_partitions;
  if (options_.auto_create_topic_config) config = *options_.auto_create_topic_config;
  auto created = create_topic(topic, config);
  if (!created && created.error().code() != Errc::kAlreadyExists) return fail(created.error());
  return find_partition(topic, partition);
}

AppendLimits EngineImpl::append_limits() const {
  return {.max_batch_bytes = options_.max_batch_bytes,
          .max_append_bytes = options_.max_append_bytes,
          .max_uncompressed_batch_bytes =
              static_cast<std::size_t>(options_.max_uncompressed_batch_bytes)};
}

Status EngineImpl::check_sizes(const ValidatedBatches& batches) const {
  if (batches.batch_count() == 0) return fail(Errc::kInvalidArgument, "append: no batches");
  if (batches.size_bytes() > options_.max_append_bytes)
    return fail(Errc::kTooLarge, "append of " + std::to_string(batches.size_bytes()) +
                                     " bytes is above max_append_bytes (" +
                                     std::to_string(options_.max_append_bytes) + ")");
  if (batches.largest_batch_bytes() > options_.max_batch_bytes)
    return fail(Errc::kTooLarge, "append: a batch of " +
                                     std::to_string(batches.largest_batch_bytes()) +
                                     " bytes is larger than max_batch_bytes (" +
                                     std::to_string(options_.max_batch_bytes) + ")");
  return {};
}

void EngineImpl::append_async(std::string_view topic, std::int32_t partition,
                              std::vector<std::byte> batches, AppendCallback done) {
  submit_append(topic, partition, std::move(batches), std::move(done), false);
}

void EngineImpl::append_async(std::string_view topic, std::int32_t partition,
                              ValidatedBatches batches, AppendCallback done) {
  submit_validated(topic, partition, std::move(batches), std::move(done), false);
}

void EngineImpl::submit_append(std::string_view topic, std::int32_t partition,
                               std::vector<std::byte> batches, AppendCallback done,
                               bool wait_for_room) {
  auto validated = validate_batches(std::move(batches), append_limits());
  if (!validated) {
    counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
    return done(fail(validated.error().with_context("append")));
  }
  submit_validated(topic, partition, std::move(*validated), std::move(done), wait_for_room);
}

void EngineImpl::submit_validated(std::string_view topic, std::int32_t partition,
                                  ValidatedBatches batches, AppendCallback done,
                                  bool wait_for_room) {
  auto reject = [&](const Error& e) {
    counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
    done(fail(e));
  };
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) return reject(Error(Errc::kClosed, "engine is closed"));
  }
  if (auto s = check_sizes(batches); !s) return reject(s.error());
  auto p = partition_for_append(topic, partition);
  if (!p) return reject(p.error());
  if (space_guard_.refusing()) {
    counters_.space_refusals.fetch_add(1, std::memory_order_relaxed);
    return reject(space_guard_.refusal().with_context("append to " + std::string(topic) + "/" +
                                                      std::to_string(partition)));
  }
  if (space_guard_.note_append(batches.size_bytes())) check_space();
  if ((*p)->corrupt())
    return reject(Error(Errc::kCorruption, "partition " + std::string(topic) + "/" +
                                               std::to_string(partition) +
                                               " is damaged and refuses appends (see describe)"));
  if (auto failure = (*p)->write_failure())
    return reject(
        failure->with_context("append to " + std::string(topic) + "/" + std::to_string(partition)));
  Request req;
  req.partition = std::move(*p);
  req.append.batches = static_cast<std::uint32_t>(batches.batch_count());
  req.append.records = batches.record_count();
  req.append.bytes = std::move(batches).release();
  req.append.done = std::move(done);
  queue_append(std::move(req), wait_for_room);
}

void EngineImpl::queue_append(Request req, bool wait_for_room) {
  const std::uint64_t size = req.append.bytes.size();
  std::unique_lock lock(queue_mu_);
  auto room = [&] {
    std::uint64_t pending = pending_bytes_.load(std::memory_order_relaxed);
    return pending == 0 || pending + size <= options_.max_pending_bytes;  // one always fits
  };
  if (wait_for_room) room_cv_.wait(lock, [&] { return stopping_ || room(); });
  if (!stopping_ && room()) {
    pending_bytes_.store(pending_bytes_.load(std::memory_order_relaxed) + size,
                         std::memory_order_relaxed);
    queue_.push_back(std::move(req));
    queued_.store(true, std::memory_order_release);
    lock.unlock();
    queue_cv_.notify_one();
    return;
  }
  Error refusal(Errc::kClosed, "engine is closed");
  if (!stopping_) {
    counters_.append_busy.fetch_add(1, std::memory_order_relaxed);
    refusal = Error(Errc::kBusy, "append refused: " + std::to_string(pending_bytes_.load()) +
                                     " bytes of appends are pending (max_pending_bytes " +
                                     std::to_string(options_.max_pending_bytes) +
                                     "); retry once earlier appends have completed");
  }
  lock.unlock();
  counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
  req.append.done(fail(std::move(refusal)));
}

Result<AppendResult> EngineImpl::append(std::string_view topic, std::int32_t partition,
                                        std::vector<std::byte> batches) {
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  submit_append(
      topic, partition, std::move(batches),
      [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); }, true);
  return future.get();
}

Result<AppendResult> EngineImpl::append(std::string_view topic, std::int32_t partition,
                                        ValidatedBatches batches) {
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  submit_validated(
      topic, partition, std::move(batches),
      [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); }, true);
  return future.get();
}

Status EngineImpl::sync() {
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  Request req;
  req.append.done = [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); };
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) return fail(Errc::kClosed, "engine is closed");
    queue_.push_back(std::move(req));
    queued_.store(true, std::memory_order_release);
  }
  queue_cv_.notify_one();
  auto r = future.get();
  if (!r) return fail(r.error());
  return first_write_failure();
}

Status EngineImpl::first_write_failure() const {
  std::shared_lock lock(topics_mu_);
  for (const auto& [name, topic] : topics_)
    for (const auto& p : topic->partitions)
      if (auto failure = p->write_failure())
        return fail(failure->with_context("partition " + name + "/" + std::to_string(p->id())));
  return {};
}

// ---------------------------------------------------------------------------------------------
// Reads

Result<FetchResult> EngineImpl::fetch(std::string_view topic, std::int32_t partition,
                                      std::int64_t offset, std::uint32_t max_bytes) const {
  auto p = find_partition(topic, partition);
  if (!p) return fail(p.error());
  counters_.fetches.fetch_add(1, std::memory_order_relaxed);
  return (*p)->fetch(offset, max_bytes);
}

Result<std::vector<std::byte>> EngineImpl::read(std::string_view topic, std::int32_t partition,
                                                std::int64_t offset,
                                                std::uint32_t max_bytes) const {
  auto p = find_partition(topic, partition);
  if (!p) return fail(p.error());
  counters_.fetches.fetch_add(1, std::memory_order_relaxed);
  return (*p)->read(offset, max_bytes);
}

Result<std::int64_t> EngineImpl::offset_for_timestamp(std::string_view topic,
                                                      std::int32_t partition,
                                                      std::int64_t timestamp_ms) const {
  auto p = find_partition(topic, partition);
  if (!p) return fail(p.error());
  return (*p)->offset_for_timestamp(timestamp_ms);
}

Result<std::pair<std::int64_t, std::int64_t>> EngineImpl::offsets(std::string_view topic,
                                                                  std::int32_t partition) const {
  auto p = find_partition(topic, partition);
  if (!p) return fail(p.error());
  return (*p)->offsets();
}

void EngineImpl::set_visibility_listener(VisibilityListener listener) {
  RINGLOG_ASSERT(listener_thread_.load(std::memory_order_relaxed) != std::this_thread::get_id());
  auto next = listener ? std::make_shared<VisibilityListener>(std::move(listener)) : nullptr;
  std::shared_ptr<VisibilityListener> old;
  {
    std::lock_guard call(listener_call_mu_);  // waits for a call in progress to return
    std::lock_guard lock(listener_mu_);
    old = std::exchange(listener_, std::move(next));
  }
  // `old` is destroyed here, outside the locks: its captures may be heavy.
}

// ---------------------------------------------------------------------------------------------
// Group offsets

Status EngineImpl::commit_offset(std::string_view group, std::string_view topic,
                                 std::int32_t partition, std::int64_t offset,
                                 std::string_view metadata) {
  if (auto problem = group_id_problem(group); !problem.empty())
    return fail(Errc::kInvalidArgument, "group '" + std::string(group) + "': " + problem);
  if (metadata.size() > 4096) return fail(Errc::kTooLarge, "offset metadata above 4096 bytes");
  // Held shared until the commit is stored, so that delete_topic (exclusive) removes it too.
  std::shared_lock topic_lock(commit_topics_mu_);
  if (auto p = find_partition(topic, partition); !p) return fail(p.error());
  return group_offsets_->commit(group, topic, partition, offset, metadata, wall_clock_ms());
}

Result<std::optional<CommittedOffset>> EngineImpl::committed_offset(std::string_view group,
                                                                    std::string_view topic,
                                                                    std::int32_t partition) const {
  if (auto problem = group_id_problem(group); !problem.empty())
    return fail(Errc::kInvalidArgument, "group '" + std::string(group) + "': " + problem);
  return group_offsets_->get(group, topic, partition);
}

void EngineImpl::touch_group(std::string_view group) {
  if (!group_offsets_ || !group_id_problem(group).empty()) return;
  group_offsets_->touch(group, wall_clock_ms());
}

void EngineImpl::expire_group_offsets() {
  auto expired = group_offsets_->expire(wall_clock_ms(), options_.offsets_retention_ms,
                                        kMaxExpiredOffsetsPerCheck);
  if (!expired) {
    RINGLOG_WARN("engine: expiring idle groups' offsets: %s", expired.error().to_string().c_str());
    return;
  }
  if (*expired == 0) return;
  counters_.offsets_expired.fetch_add(*expired, std::memory_order_relaxed);
  RINGLOG_INFO("engine: %zu committed offsets expired (their groups were idle for %llu ms)",
               *expired, static_cast<unsigned long long>(options_.offsets_retention_ms));
}

Result<std::vector<GroupOffset>> EngineImpl::list_group_offsets(std::string_view group) const {
  if (auto problem = group_id_problem(group); !problem.empty())
    return fail(Errc::kInvalidArgument, "group '" + std::string(group) + "': " + problem);
  return group_offsets_->list(group);
}

// ---------------------------------------------------------------------------------------------
// Maintenance: prepared segments, checkpoints, retention

// Retention visits the partitions written since its last pass and those whose oldest segment
// is due to expire by time (retention_schedule_), not every partition; the first pass after
// open, and an explicit Engine::enforce_retention, visit them all.
std::vector<std::shared_ptr<Partition>> EngineImpl::retention_candidates(bool all) {
  std::vector<std::shared_ptr<Partition>> candidates = retention_changes_.take();
  if (all || !retention_scanned_) {
    retention_scanned_ = true;
    return all_partitions();
  }
  for (auto& p : retention_schedule_.take_due(wall_clock_ms()))
    candidates.push_back(std::move(p));
  return candidates;
}

// The new log starts are made durable in a checkpoint before any file is deleted, so that a
// recovery can tell an expired oldest segment from a lost one (partition.h, retire_expired).
Status EngineImpl::enforce_retention() {
  std::lock_guard lock(retention_mu_);
  return enforce_retention(retention_candidates(true));
}

Status EngineImpl::enforce_retention(const std::vector<std::shared_ptr<Partition>>& candidates) {
  std::int64_t now = wall_clock_ms();
  std::vector<std::pair<std::shared_ptr<Partition>, std::vector<std::shared_ptr<Segment>>>> retired;
  for (const auto& p : candidates) {
    if (p->deleted()) {
      retention_schedule_.clear(*p);
      continue;
    }
    auto victims = p->retire_expired(now);
    if (auto deadline = p->retention_deadline_ms())
      retention_schedule_.set(p, *deadline);
    else
      retention_schedule_.clear(*p);
    if (!victims.empty()) retired.emplace_back(p, std::move(victims));
  }
  if (retired.empty()) return {};
  for (const auto& [p, victims] : retired)
    checkpoint_changes_.add(p);
  if (auto s = write_checkpoint(true); !s)
    return fail(s.error().with_context("retention keeps its expired files until a checkpoint"));
  Status result;
  for (const auto& [p, victims] : retired) {
    if (auto s = p->remove_retired(victims); !s) {
      if (result) result = s;
      continue;
    }
    counters_.segments_deleted.fetch_add(victims.size(), std::memory_order_relaxed);
  }
  return result;
}

// Only the partitions that changed since the last checkpoint (checkpoint_changes_: written,
// synced, created, deleted, retired) are asked for their points and indexes; the others keep
// the point last written, which stays true: a point only ever advances, and what it covers is
// on disk. `all` (the first checkpoint after open, close, and the one after a failed write)
// asks every partition.
Status EngineImpl::write_checkpoint(bool force, bool all) {
  std::lock_guard lock(checkpoint_mu_);
  all = all || !have_checkpoint_;
  // Taken before every partition is listed: what changes meanwhile is asked again next time.
  std::vector<std::shared_ptr<Partition>> changed = checkpoint_changes_.take();
  if (all) {
    changed = all_partitions();
    last_checkpoint_.clear();
  }
  // A deleted partition's point goes before a new one under the same name is recorded.
  std::stable_partition(changed.begin(), changed.end(),
                        [](const std::shared_ptr<Partition>& p) { return p->deleted(); });
  bool differs = all;
  // The points first, then the indexes: the indexes on disk then cover every point.
  for (const auto& p : changed) {
    PartitionKey key{p->topic(), p->id()};
    if (auto point = p->recovery_point()) {
      auto [it, inserted] = last_checkpoint_.try_emplace(std::move(key), *point);
      differs = differs || inserted || it->second != *point;
      it->second = *point;
    } else {
      differs = last_checkpoint_.erase(key) > 0 || differs;
    }
  }
  if (!force && !differs) return {};
  // last_checkpoint_ is now ahead of the file: after a failure the next write rebuilds it.
  have_checkpoint_ = false;
  if (auto s = persist_checkpoint(last_checkpoint_, changed); !s) return s;
  have_checkpoint_ = true;
  counters_.checkpoints.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Status EngineImpl::persist_checkpoint(const Checkpoint& checkpoint,
                                      const std::vector<std::shared_ptr<Partition>>& changed) {
  for (const auto& p : changed) {
    if (p->deleted()) continue;
    if (auto s = p->persist_indexes(); !s) return s;
  }
  auto bytes = encode_checkpoint(checkpoint, env_->boot_id());
  return write_file_atomically(*env_, options_.data_dir, kCheckpointFileName, bytes);
}

void EngineImpl::request_checkpoint() {
  {
    std::lock_guard lock(maintenance_mu_);
    checkpoint_requested_ = true;
  }
  maintenance_cv_.notify_all();
}

void EngineImpl::queue_preparation(std::shared_ptr<Partition> partition) {
  {
    std::lock_guard lock(prepare_mu_);
    prepare_queue_.push_back(std::move(partition));
  }
  prepare_cv_.notify_one();
}

void EngineImpl::preparer_loop() {
  std::unique_lock lock(prepare_mu_);
  while (true) {
    prepare_cv_.wait(lock, [&] { return prepare_stop_ || !prepare_queue_.empty(); });
    if (prepare_stop_) return;
    std::shared_ptr<Partition> p = std::move(prepare_queue_.front());
    prepare_queue_.pop_front();
    lock.unlock();
    if (auto s = p->prepare_space(monotonic_ms()); !s)
      RINGLOG_WARN("engine: reserving space for %s/%d: %s", p->topic().c_str(), p->id(),
                   s.error().to_string().c_str());
    p.reset();
    lock.lock();
  }
}

void EngineImpl::maintenance_loop() {
  std::uint64_t next_checkpoint = monotonic_ms() + options_.checkpoint_interval_ms;
  std::uint64_t next_retention = monotonic_ms() + options_.retention_check_interval_ms;
  std::uint64_t next_lock_check = monotonic_ms() + kLockCheckIntervalMs;
  std::uint64_t next_expiry = monotonic_ms() + kOffsetsExpiryIntervalMs;
  std::uint64_t next_space_check = monotonic_ms() + kSpaceCheckIntervalMs;
  std::unique_lock lock(maintenance_mu_);
  while (!maintenance_stop_) {
    std::uint64_t now = monotonic_ms();
    std::uint64_t wake =
        std::min({next_checkpoint, next_retention, next_lock_check, next_expiry, next_space_check});
    if (wake > now && !checkpoint_requested_)
      maintenance_cv_.wait_for(
          lock, std::chrono::milliseconds(std::min<std::uint64_t>(wake - now, 1000)));
    if (maintenance_stop_) break;
    if (checkpoint_requested_) {
      checkpoint_requested_ = false;
      next_checkpoint = 0;  // now
    }
    lock.unlock();
    if (monotonic_ms() >= next_space_check) {
      check_space();
      next_space_check = monotonic_ms() + kSpaceCheckIntervalMs;
    }
    now = monotonic_ms();
    if (now >= next_checkpoint) {
      if (auto s = write_checkpoint(false); !s)
        RINGLOG_WARN("engine: checkpoint: %s", s.error().to_string().c_str());
      next_checkpoint = now + options_.checkpoint_interval_ms;
    }
    if (now >= next_retention) {
      std::lock_guard retention(retention_mu_);
      if (auto s = enforce_retention(retention_candidates(false)); !s)
        RINGLOG_WARN("engine: retention: %s", s.error().to_string().c_str());
      next_retention = now + options_.retention_check_interval_ms;
    }
    if (now >= next_lock_check) {
      check_lock_file();
      next_lock_check = now + kLockCheckIntervalMs;
    }
    if (now >= next_expiry) {
      expire_group_offsets();
      next_expiry = now + kOffsetsExpiryIntervalMs;
    }
    lock.lock();
  }
}

// ---------------------------------------------------------------------------------------------
// Stats and close

Result<EngineStats> EngineImpl::stats() const {
  EngineStats s;
  auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.append_requests = load(counters_.append_requests);
  s.append_batches = load(counters_.append_batches);
  s.append_records = load(counters_.append_records);
  s.append_bytes = load(counters_.append_bytes);
  s.append_errors = load(counters_.append_errors);
  s.write_cycles = load(counters_.write_cycles);
  s.writes = load(counters_.writes);
  s.syncs = load(counters_.syncs);
  s.rolls = load(counters_.rolls);
  s.prepared_rolls = load(counters_.prepared_rolls);
  s.fetches = load(counters_.fetches);
  s.segments_deleted = load(counters_.segments_deleted);
  s.offsets_expired = load(counters_.offsets_expired);
  s.checkpoints = load(counters_.checkpoints);
  s.append_busy = load(counters_.append_busy);
  s.pending_bytes = pending_bytes_.load(std::memory_order_relaxed);
  s.max_pending_bytes = options_.max_pending_bytes;
  s.free_space_bytes = space_guard_.free_bytes();
  s.min_free_space_bytes = space_guard_.reserve();
  s.appends_refused_for_space = space_guard_.refusing();
  s.space_refusals = load(counters_.space_refusals);
  {
    std::shared_lock lock(topics_mu_);
    s.topics = topics_.size();
    for (const auto& [name, topic] : topics_) {
      s.partitions += topic->partitions.size();
      for (const auto& p : topic->partitions) {
        s.corrupt_partitions += p->corrupt() ? 1 : 0;
        s.failed_partitions += p->write_failure() ? 1 : 0;
      }
    }
  }
  s.open_segment_files = files_.open_files();
  s.max_open_files = files_.max_open();
  s.preallocated_bytes = space_budget_.used();
  s.preallocation_budget = space_budget_.limit();
  s.recovery_scanned_bytes = recovery_stats_.scanned_bytes;
  s.recovery_truncated_bytes = recovery_stats_.truncated_bytes;
  s.recovery_ms = recovery_ms_;
  s.recovered_clean_shutdown = recovered_clean_;
  {
    std::lock_guard lock(damage_mu_);
    s.damage = damage_;
  }
  s.env = env_name_;
  return s;
}

void EngineImpl::stop_threads(bool crash) {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
    crash_ = crash;
  }
  queue_cv_.notify_all();
  room_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(deliver_mu_);
    deliver_stop_ = true;
  }
  deliver_cv_.notify_one();
  if (completer_.joinable()) completer_.join();  // runs what the writer handed it first
  syncer_.stop(!crash);  // after the writer: it syncs what the writer's last cycles wrote
  {
    std::lock_guard lock(prepare_mu_);
    prepare_stop_ = true;
    prepare_queue_.clear();
  }
  prepare_cv_.notify_all();
  if (preparer_.joinable()) preparer_.join();
  {
    std::lock_guard lock(maintenance_mu_);
    maintenance_stop_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
}

Status EngineImpl::close() {
  std::lock_guard close_lock(close_mu_);
  if (closed_ || !started_) {  // a failed open leaves the directory as recovery found it
    closed_ = true;
    stop_threads(true);
    lock_.reset();
    dir_lock_.reset();
    return {};
  }
  stop_threads(false);
  // A partition out of service has unsynced data the kernel may have dropped: no clean-shutdown
  // marker, so that the next open scans it from its durable point.
  Status failure = first_write_failure();
  {
    std::unique_lock lock(topics_mu_);
    closed_ = true;
  }
  Status result = write_checkpoint(true, /*all=*/true);
  if (result && !failure) result = failure;
  if (result) {
    std::string marker = join_path(options_.data_dir, kCleanShutdownFileName);
    auto file = env_->open_file(marker, OpenMode::kCreateReadWrite);
    if (!file) {
      result = fail(file.error());
    } else {
      result = (*file)->sync();
      if (result) result = env_->sync_dir(options_.data_dir);
    }
  }
  group_offsets_.reset();
  {
    std::unique_lock lock(topics_mu_);
    topics_.clear();
  }
  lock_.reset();
  dir_lock_.reset();
  return result;
}

void EngineImpl::crash_for_testing() {
  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  stop_threads(true);
  std::unique_lock lock(topics_mu_);
  closed_ = true;
  topics_.clear();
  group_offsets_.reset();
  lock_.reset();
  dir_lock_.reset();
}

}  // namespace ringlog
