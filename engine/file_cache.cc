#include "engine/file_cache.h"

#include "io/assert.h"

namespace ringlog {

CachedFile::~CachedFile() {
  cache_.forget(*this);
}

Result<std::shared_ptr<File>> CachedFile::open() {
  return cache_.open(*this);
}

FileCache::~FileCache() {
  RINGLOG_ASSERT(lru_.empty());
}

std::unique_ptr<CachedFile> FileCache::adopt(Env& env, std::string path,
                                             std::shared_ptr<File> opened) {
  std::unique_ptr<CachedFile> f(new CachedFile(*this, env, std::move(path)));
  std::vector<std::shared_ptr<File>> closing;
  {
    std::lock_guard lock(mu_);
    f->file_ = std::move(opened);
    insert_locked(*f);
    evict_locked(closing);
  }
  return f;
}

Result<std::shared_ptr<File>> FileCache::open(CachedFile& f) {
  {
    std::lock_guard lock(mu_);
    if (f.file_) {
      touch_locked(f);
      return f.file_;
    }
  }
  // Opened outside the lock: a syscall must not stall every other user of the cache.
  auto opened = f.env_.open_file(f.path_, OpenMode::kReadWrite);
  if (!opened) return fail(opened.error());
  std::vector<std::shared_ptr<File>> closing;
  std::shared_ptr<File> file;
  {
    std::lock_guard lock(mu_);
    if (f.file_) {  // another thread opened it meanwhile: use that one, close ours
      closing.push_back(std::shared_ptr<File>(std::move(*opened)));
      touch_locked(f);
    } else {
      f.file_ = std::shared_ptr<File>(std::move(*opened));
      insert_locked(f);
    }
    file = f.file_;  // held before evicting: never closed under its new user
    evict_locked(closing);
  }
  return file;
}

void FileCache::forget(CachedFile& f) {
  std::shared_ptr<File> closing;
  std::lock_guard lock(mu_);
  if (!f.file_) return;
  lru_.erase(f.lru_);
  closing = std::move(f.file_);
  open_.fetch_sub(1, std::memory_order_relaxed);
}

void FileCache::touch_locked(CachedFile& f) {
  if (f.lru_ != lru_.begin()) lru_.splice(lru_.begin(), lru_, f.lru_);
}

void FileCache::insert_locked(CachedFile& f) {
  lru_.push_front(&f);
  f.lru_ = lru_.begin();
  open_.fetch_add(1, std::memory_order_relaxed);
}

void FileCache::evict_locked(std::vector<std::shared_ptr<File>>& closing) {
  // A file whose only owner is the cache is held by nobody, and nobody can take a hold without
  // this lock: closing it is safe.
  auto it = lru_.end();
  while (open_.load(std::memory_order_relaxed) > max_open_ && it != lru_.begin()) {
    --it;
    CachedFile& f = **it;
    if (f.file_.use_count() != 1) continue;
    closing.push_back(std::move(f.file_));
    it = lru_.erase(it);
    open_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace ringlog
