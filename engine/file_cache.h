// Open segment files within a descriptor budget (EngineOptions::max_open_files), so that the
// engine needs no more descriptors than configured whatever its partition count.
//
// Every segment's log file is a CachedFile: opened when first used, and kept open while it is
// used recently. A user holds the file open through the shared_ptr<File> that open() returns
// (a writer cycle's write, a sync, a read, a FileSlice a server is still sending); beyond the
// budget the cache closes the least recently used files nobody holds. Holds are short, so the
// count of open files passes the budget only while more than the budget are held at once.
//
// Threading: thread-safe. One mutex guards the LRU list; a file is opened outside it. A
// CachedFile must not outlive its FileCache; the shared_ptr<File>s handed out may (they own
// their descriptor).
#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/env.h"

namespace ringlog {

class FileCache;

class CachedFile {
 public:
  ~CachedFile();
  CachedFile(const CachedFile&) = delete;
  CachedFile& operator=(const CachedFile&) = delete;

  // The open file (opened read-write now if the cache had closed it), held open while the
  // returned pointer or a copy of it lives. The errors of Env::open_file (kNotFound once the
  // file was removed, kTooManyFiles when the process is out of descriptors).
  Result<std::shared_ptr<File>> open();
  const std::string& path() const { return path_; }

 private:
  friend class FileCache;
  CachedFile(FileCache& cache, Env& env, std::string path) noexcept
      : cache_(cache), env_(env), path_(std::move(path)) {}

  FileCache& cache_;
  Env& env_;
  const std::string path_;
  // Guarded by cache_.mu_.
  std::shared_ptr<File> file_;  // open, or null
  std::list<CachedFile*>::iterator lru_;
};

class FileCache {
 public:
  // REQUIRES: max_open > 0.
  explicit FileCache(std::size_t max_open) : max_open_(max_open) {}
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;
  ~FileCache();  // REQUIRES: every CachedFile is gone

  // The CachedFile of `path`, open with `opened` (a file just opened or created by the caller,
  // who may keep using it: it counts as held while the caller's copy lives).
  std::unique_ptr<CachedFile> adopt(Env& env, std::string path, std::shared_ptr<File> opened);

  std::size_t open_files() const { return open_.load(std::memory_order_relaxed); }
  std::size_t max_open() const { return max_open_; }

 private:
  friend class CachedFile;
  Result<std::shared_ptr<File>> open(CachedFile& f);
  void forget(CachedFile& f);
  // Makes `f` (open) the most recently used. REQUIRES: mu_ held.
  void touch_locked(CachedFile& f);
  // Adds `f`'s new file as the most recently used. REQUIRES: mu_ held, f.file_ set.
  void insert_locked(CachedFile& f);
  // Moves the files to close, least recently used first, into `closing` (closed by the caller
  // outside the lock) until the budget holds or only held files remain. REQUIRES: mu_ held.
  void evict_locked(std::vector<std::shared_ptr<File>>& closing);

  const std::size_t max_open_;
  std::mutex mu_;
  std::list<CachedFile*> lru_;  // the open files, most recently used first
  std::atomic<std::size_t> open_{0};
};

}  // namespace ringlog
