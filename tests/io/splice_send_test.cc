// SpliceSend: file range -> pipe -> socket, with the default and an enlarged (F_SETPIPE_SZ) pipe,
// slow readers, ranges of several MiB and a sparse range of several GiB, and abandon().
#include "io/splice_send.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "io_test_util.h"
#include "ring_test_util.h"

namespace ringlog {

using namespace std::chrono_literals;
using test::make_ring;
using test::pattern_bytes;
using test::read_exactly;
using test::TcpPair;
using test::TempDir;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;

  // `bytes` 0: the default size (64 KiB).
  explicit Pipe(int bytes = 0) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_end = UniqueFd(fds[0]);
    write_end = UniqueFd(fds[1]);
    if (bytes > 0) REQUIRE(::fcntl(fds[1], F_SETPIPE_SZ, bytes) >= bytes);
  }
};

// A file whose bytes are known without storing them: zeros (a hole) except `islands` of pattern
// bytes at given positions, so that a range of GiB can be checked as it streams in.
struct SparseFile {
  struct Island {
    std::uint64_t pos;
    std::string bytes;
  };
  UniqueFd fd;
  std::vector<Island> islands;

  SparseFile(const std::string& path, std::uint64_t size, std::vector<Island> with)
      : islands(std::move(with)) {
    fd = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(fd.valid());
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
    for (const Island& i : islands) {
      REQUIRE(::pwrite(fd.get(), i.bytes.data(), i.bytes.size(), static_cast<off_t>(i.pos)) ==
              static_cast<ssize_t>(i.bytes.size()));
    }
  }

  // What [pos, pos + n) holds.
  void expected(std::uint64_t pos, std::size_t n, char* out) const {
    std::memset(out, 0, n);
    for (const Island& i : islands) {
      std::uint64_t from = std::max(pos, i.pos), to = std::min(pos + n, i.pos + i.bytes.size());
      if (from < to) std::memcpy(out + (from - pos), i.bytes.data() + (from - i.pos), to - from);
    }
  }
};

// Reads `length` bytes from `fd` and compares them, as they come, with what the file holds at
// [offset, offset + length). `pause_every` > 0: sleeps 1 ms after that many bytes (a slow reader
// that keeps the socket and the pipe full).
struct CheckingReader {
  std::uint64_t received = 0;
  std::uint64_t first_mismatch = ~std::uint64_t{0};

  void run(int fd, const SparseFile& file, std::uint64_t offset, std::uint64_t length,
           std::uint64_t pause_every = 0) {
    std::vector<char> got(256 << 10), want(got.size());
    std::uint64_t since_pause = 0;
    while (received < length) {
      std::size_t ask =
          static_cast<std::size_t>(std::min<std::uint64_t>(got.size(), length - received));
      ssize_t n = ::read(fd, got.data(), ask);
      if (n <= 0) return;
      auto size = static_cast<std::size_t>(n);
      file.expected(offset + received, size, want.data());
      if (first_mismatch == ~std::uint64_t{0} && std::memcmp(got.data(), want.data(), size) != 0) {
        first_mismatch = received;
      }
      received += size;
      since_pause += size;
      if (pause_every > 0 && since_pause >= pause_every) {
        since_pause = 0;
        std::this_thread::sleep_for(1ms);
      }
    }
  }
};

// Sends [offset, offset + length) of `file` through `pipe` to a socket whose peer `reader` checks
// every byte; runs the Ring until `done`. Returns SpliceSend's result.
Result<std::uint64_t> send_range(const SparseFile& file, std::uint64_t offset, std::uint64_t length,
                                 Pipe& pipe, CheckingReader& reader, std::uint64_t pause_every) {
  std::unique_ptr<Ring> ring = make_ring();
  REQUIRE(ring != nullptr);
  TcpPair pair;
  timeval limit{30, 0};
  REQUIRE(::setsockopt(pair.client.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) == 0);
  std::thread thread([&] { reader.run(pair.client.get(), file, offset, length, pause_every); });
  SpliceSend splice;
  bool done = false;
  splice.context = &done;
  splice.done = [](Ring&, SpliceSend& s) { *static_cast<bool*>(s.context) = true; };
  splice.start(*ring, file.fd.get(), offset, length, pipe.read_end.get(), pipe.write_end.get(),
               pair.server.get());
  // A stalled send fails the test instead of hanging it.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done && std::chrono::steady_clock::now() < deadline)
    REQUIRE(ring->run_for(100ms));
  if (!done) splice.abandon(*ring);
  ::shutdown(pair.server.get(), SHUT_RDWR);  // the reader stops at once if bytes are missing
  thread.join();
  if (!done) return fail(Errc::kIo, "SpliceSend stalled: no completion within 60 s");
  return splice.result();
}

}  // namespace

TEST_CASE("splice: a file range reaches the socket unchanged through a default pipe") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  std::string content = pattern_bytes(300000, 5);
  {
    std::FILE* f = std::fopen((dir / "seg").c_str(), "wb");
    REQUIRE(std::fwrite(content.data(), 1, content.size(), f) == content.size());
    std::fclose(f);
  }
  UniqueFd file(::open((dir / "seg").c_str(), O_RDONLY | O_CLOEXEC));
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  TcpPair pair;
  std::uint64_t offset = 1000, length = 200000;  // more than one pipe's worth
  std::string received;
  std::thread reader([&] { received = read_exactly(pair.client.get(), length); });
  SpliceSend splice;
  bool done = false;
  splice.context = &done;
  splice.done = [](Ring&, SpliceSend& s) { *static_cast<bool*>(s.context) = true; };
  splice.start(*ring, file.get(), offset, length, pipe_read.get(), pipe_write.get(),
               pair.server.get());
  while (!done)
    REQUIRE(ring->run_once().has_value());
  reader.join();
  if (!splice.result()) FAIL(splice.result().error().to_string());
  CHECK(splice.result().value() == length);
  CHECK(received.size() == length);
  CHECK((received == content.substr(offset, length)));
}

TEST_CASE("splice: a range past the end of the file fails instead of hanging") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  UniqueFd file(::open((dir / "small").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  REQUIRE(::write(file.get(), "abc", 3) == 3);
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  TcpPair pair;
  SpliceSend splice;
  bool done = false;
  splice.context = &done;
  splice.done = [](Ring&, SpliceSend& s) { *static_cast<bool*>(s.context) = true; };
  splice.start(*ring, file.get(), 0, 10, pipe_read.get(), pipe_write.get(), pair.server.get());
  while (!done)
    REQUIRE(ring->run_once().has_value());
  REQUIRE_FALSE(splice.result());
  CHECK(splice.result().error().message().find("no progress after 3 of 10") != std::string::npos);
}

TEST_CASE("splice: MiB ranges through a 1 MiB pipe reach a slow reader byte for byte") {
  if (!make_ring()) return;
  TempDir dir;
  const std::uint64_t size = 12 * kMiB + 777;
  SparseFile file(dir / "seg", size, {{0, pattern_bytes(size, 3)}});
  std::uint64_t offset = 0, length = 0;
  SUBCASE("page-aligned, 8 MiB") {
    offset = 0, length = 8 * kMiB;
  }
  SUBCASE("misaligned start and end, 12 MiB less a little") {
    offset = 1000, length = size - 1000 - 123;
  }
  SUBCASE("exactly one pipe's worth plus one byte") {
    offset = 4095, length = kMiB + 1;
  }
  CAPTURE(offset);
  CAPTURE(length);
  Pipe pipe(static_cast<int>(kMiB));
  CheckingReader reader;
  Result<std::uint64_t> sent = send_range(file, offset, length, pipe, reader, 64 << 10);
  REQUIRE_MESSAGE(sent.has_value(), sent.error().to_string());
  CHECK(*sent == length);
  CHECK(reader.received == length);
  CHECK(reader.first_mismatch == ~std::uint64_t{0});
}

TEST_CASE("splice: a pipe of one or two pages carries a range starting mid-page") {
  if (!make_ring()) return;
  TempDir dir;
  const std::uint64_t size = 300000;
  SparseFile file(dir / "seg", size, {{0, pattern_bytes(size, 6)}});
  int pipe_bytes = 0;
  SUBCASE("one page") {
    pipe_bytes = 4096;
  }
  SUBCASE("two pages") {
    pipe_bytes = 8192;
  }
  CAPTURE(pipe_bytes);
  Pipe pipe(1);  // F_SETPIPE_SZ rounds up to a whole page: one slot
  if (pipe_bytes > 4096) REQUIRE(::fcntl(pipe.write_end.get(), F_SETPIPE_SZ, pipe_bytes) >= 0);
  REQUIRE(::fcntl(pipe.write_end.get(), F_GETPIPE_SZ) == pipe_bytes);
  CheckingReader reader;
  Result<std::uint64_t> sent = send_range(file, 1000, size - 1000 - 7, pipe, reader, 0);
  REQUIRE_MESSAGE(sent.has_value(), sent.error().to_string());
  CHECK(*sent == size - 1007);
  CHECK(reader.received == size - 1007);
  CHECK(reader.first_mismatch == ~std::uint64_t{0});
}

TEST_CASE("splice: a sparse GiB range across the 2 and 4 GiB offsets arrives exactly") {
  if (!make_ring()) return;
  TempDir dir;
  const std::uint64_t size = 4 * kGiB + 3 * kMiB;
  // Data where offsets overflow 31 and 32 bits, and at both ends of the range.
  SparseFile file(dir / "sparse", size,
                  {{2 * kGiB - 6000, pattern_bytes(70000, 1)},
                   {2 * kGiB + kMiB, pattern_bytes(3 * kMiB, 2)},
                   {4 * kGiB - 5, pattern_bytes(100000, 4)},
                   {size - 4096, pattern_bytes(4096, 5)}});
  const std::uint64_t offset = 2 * kGiB - 5000;
  const std::uint64_t length = size - offset;
  Pipe pipe(static_cast<int>(kMiB));
  CheckingReader reader;
  Result<std::uint64_t> sent = send_range(file, offset, length, pipe, reader, 0);
  REQUIRE_MESSAGE(sent.has_value(), sent.error().to_string());
  CHECK(*sent == length);
  CHECK(reader.received == length);
  CHECK(reader.first_mismatch == ~std::uint64_t{0});
}

TEST_CASE("splice: abandon stops a send to a peer that does not read, without calling done") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  SparseFile file(dir / "seg", 64 * kMiB, {{0, pattern_bytes(4096, 7)}});
  Pipe pipe(static_cast<int>(kMiB));
  TcpPair pair;  // the client never reads
  auto splice = std::make_unique<SpliceSend>();
  bool done = false;
  splice->context = &done;
  splice->done = [](Ring&, SpliceSend& s) { *static_cast<bool*>(s.context) = true; };
  splice->start(*ring, file.fd.get(), 0, 64 * kMiB, pipe.read_end.get(), pipe.write_end.get(),
                pair.server.get());
  REQUIRE(ring->run_for(50ms));  // the socket and the pipe fill up; the send blocks
  REQUIRE_FALSE(done);
  splice->abandon(*ring);
  splice.reset();  // its Completions are idle: no abort
  REQUIRE(ring->run_for(10ms));
  CHECK_FALSE(done);
  CHECK(ring->active() == 0);
}

}  // namespace ringlog
