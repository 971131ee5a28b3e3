#include "tests/support/files.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace ringlog::testing {

namespace {
std::string temp_base(TempDir::Where where) {
  std::error_code ignored;
  if (where == TempDir::Where::kMemory && std::filesystem::is_directory("/dev/shm", ignored))
    return "/dev/shm";
  const char* base = std::getenv("TMPDIR");
  return base && *base ? base : "/tmp";
}
}  // namespace

TempDir::TempDir(Where where) {
  std::string pattern = temp_base(where) + "/" + program_invocation_short_name + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.flush();
  if (!out.good()) throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

std::uint64_t disk_usage(const std::string& path) {
  std::uint64_t total = 0;
  auto add = [&](const std::string& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return;  // gone while walking (a file the engine replaced)
      throw std::system_error(errno, std::generic_category(), "lstat " + p);
    }
    total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  };
  add(path);
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           path, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    add(it->path().string());
  if (ec && ec != std::errc::no_such_file_or_directory) throw std::system_error(ec, "walk " + path);
  return total;
}

}  // namespace ringlog::testing
