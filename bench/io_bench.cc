// io/ microbenchmarks: the group commit of the file seam (POSIX vs io_uring), the Ring's cost
// per operation, and SpliceSend's zero-copy file -> socket throughput by pipe size.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io/env.h"
#include "io/ring.h"
#include "io/socket.h"
#include "io/splice_send.h"

namespace ringlog {
namespace {

constexpr std::size_t kWriteBytes = 4096;
constexpr std::uint64_t kSlots = 256;  // writes cycle over the first 1 MiB of each file

std::string make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "ringlog-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

std::unique_ptr<Env> env_for(int kind, benchmark::State& state) {
  if (kind == 0) return make_posix_env();
  Result<std::unique_ptr<Env>> uring = make_uring_env();
  if (!uring) state.SkipWithError(uring.error().to_string().c_str());
  return uring ? std::move(*uring) : nullptr;
}

// One group commit: a 4 KiB write and an fdatasync to each of range(1) files.
void BM_EnvGroupCommit(benchmark::State& state) {
  std::unique_ptr<Env> env = env_for(static_cast<int>(state.range(0)), state);
  if (!env) return;
  std::string dir = make_temp_dir();
  auto file_count = static_cast<std::size_t>(state.range(1));
  std::vector<std::unique_ptr<File>> files;
  for (std::size_t i = 0; i < file_count; ++i) {
    files.push_back(*env->open_file(dir + "/" + std::to_string(i), OpenMode::kCreateReadWrite));
  }
  std::string block(kWriteBytes, 'x');
  iovec data{block.data(), block.size()};
  std::vector<WriteOp> ops(file_count);
  std::uint64_t round = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < file_count; ++i) {
      ops[i] = {files[i].get(), FilePos((round % kSlots) * kWriteBytes), {&data, 1}, true, {}};
    }
    env->submit_writes(ops);
    ++round;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * file_count * kWriteBytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * file_count));
  files.clear();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EnvGroupCommit)
    ->ArgNames({"uring", "files"})
    ->ArgsProduct({{0, 1}, {1, 8, 32}})
    ->UseRealTime();

// One 4 KiB write (page cache, no sync) through the Ring: enqueue, submit, wait, callback.
void BM_RingWrite(benchmark::State& state) {
  Result<std::unique_ptr<Ring>> ring = Ring::create(64);
  if (!ring) return state.SkipWithError(ring.error().to_string().c_str());
  std::string dir = make_temp_dir();
  int fd = ::open((dir + "/f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  std::string block(kWriteBytes, 'x');
  bool done = false;
  Completion c;
  c.context = &done;
  c.callback = [](Ring&, Completion& finished) { *static_cast<bool*>(finished.context) = true; };
  std::uint64_t round = 0;
  for (auto _ : state) {
    done = false;
    (*ring)->write(c, fd, std::as_bytes(std::span(block)), (round++ % kSlots) * kWriteBytes);
    while (!done)
      (void)(*ring)->run_once();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kWriteBytes));
  ::close(fd);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RingWrite);

// A file of range(1) MiB in the page cache sent whole by SpliceSend to a loopback TCP socket
// whose peer reads and discards; the pipe holds range(0) KiB (64 = the default size); range(2)
// sets TCP_NODELAY on the sending socket, as the line protocol server does.
void BM_SpliceSend(benchmark::State& state) {
  Result<std::unique_ptr<Ring>> ring = Ring::create(64);
  if (!ring) return state.SkipWithError(ring.error().to_string().c_str());
  const auto pipe_bytes = static_cast<int>(state.range(0) << 10);
  const auto file_bytes = static_cast<std::uint64_t>(state.range(1)) << 20;
  std::string dir = make_temp_dir();
  UniqueFd file(::open((dir + "/seg").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  std::string block(1 << 20, 'x');
  for (std::uint64_t at = 0; at < file_bytes; at += block.size()) {
    if (::pwrite(file.get(), block.data(), block.size(), static_cast<off_t>(at)) < 0) std::abort();
  }
  UniqueFd listener = listen_on(parse_address("127.0.0.1:0").value()).value();
  UniqueFd client = connect_to(local_address(listener.get()).value()).value();
  UniqueFd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (state.range(2) != 0) (void)set_nodelay(server.get());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
  UniqueFd pipe_read(fds[0]), pipe_write(fds[1]);
  if (::fcntl(fds[1], F_SETPIPE_SZ, pipe_bytes) < 0) {
    return state.SkipWithError("F_SETPIPE_SZ refused (see /proc/sys/fs/pipe-max-size)");
  }
  std::thread reader([fd = client.get()] {
    std::vector<char> sink(1 << 20);
    while (::read(fd, sink.data(), sink.size()) > 0) {
    }
  });
  SpliceSend splice;
  bool done = false;
  splice.context = &done;
  splice.done = [](Ring&, SpliceSend& s) { *static_cast<bool*>(s.context) = true; };
  for (auto _ : state) {
    done = false;
    splice.start(**ring, file.get(), 0, file_bytes, fds[0], fds[1], server.get());
    while (!done)
      (void)(*ring)->run_once();
    if (!splice.result()) state.SkipWithError(splice.result().error().to_string().c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * file_bytes));
  ::shutdown(server.get(), SHUT_RDWR);
  reader.join();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SpliceSend)
    ->ArgNames({"pipe_kib", "mib", "nodelay"})
    ->ArgsProduct({{64, 1024}, {256}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ringlog
