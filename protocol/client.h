// A client of the line protocol (docs/protocol.md): one blocking TCP connection.
//
//   auto client = Client::connect({.address = "127.0.0.1:8123"});
//   auto offset = (*client)->put("orders", 0, as_bytes("hello"));        // one round trip
//
// Every command has a blocking method (send the request, flush, read the reply). For
// pipelining, `send_<command>` queues a request without waiting and `read_<command>` reads the
// next reply, which must be that command's: replies come in request order. `flush()` writes the
// queued requests (send_* flushes by itself once more than `flush_bytes` are queued).
// REQUIRES of a pipelining caller: read the replies in the order the requests were sent, and
// bound how many are outstanding (the server stops reading a connection whose unsent replies
// exceed its buffer limit; a client that never reads would then block in send forever).
//
// Errors: a reply `error <code> <message>` becomes an Error whose Errc is the code's
// (errc_from_status_code) and whose message starts with "server: error <code> "; server_status()
// recovers the code. The connection stays usable after such an error. Failures of the connection
// itself (kClosed, kIo, kTimedOut) and malformed replies (kCorruption) break it: every later
// call fails with kClosed.
//
// The steady state of pipelined puts and fetches allocates nothing: requests are encoded into a
// reused buffer and replies are parsed in place. Threading: one thread at a time per Client.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/error.h>

#include "protocol/status.h"

namespace ringlog::protocol {

struct ClientOptions {
  std::string address = "127.0.0.1:8123";  // "ADDR:PORT"
  // Send and receive timeout; 0 waits forever. A long poll (wait_ms) waits that much longer.
  std::uint32_t io_timeout_ms = 30000;
  std::size_t flush_bytes = 64 << 10;           // send_* flushes above this many queued bytes
  std::size_t max_reply_line_bytes = 64 << 10;  // a longer reply line is kCorruption
  std::size_t max_reply_body_bytes = 1u << 30;  // a longer msg/batches body is kCorruption
};

// `ok <first_offset> <last_offset>` of a putb.
struct AppendRange {
  std::int64_t first_offset = 0;
  std::int64_t last_offset = 0;
};

// One record of a `get` reply.
struct Message {
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;
  std::optional<std::string> key;  // nullopt: null key
  std::string value;
};

struct GetReply {
  std::vector<Message> messages;
  std::int64_t next_offset = 0;  // where the next get should start
};

// A decoded `fetch` reply. `batches` view `bytes` (valid while this object lives and is not
// reused). Every batch's CRC was checked. Records below the requested offset are still inside
// the first batch: skip them when iterating.
struct FetchReply {
  std::int64_t high_watermark = 0;
  std::vector<std::byte> bytes;  // the raw reply bytes, unchanged
  std::vector<BatchView> batches;
  std::size_t cut_tail_bytes = 0;  // bytes of an incomplete trailing batch, ignored
  // The offset after the last whole batch; the requested offset when there was none.
  std::int64_t next_offset = 0;
};

struct Offsets {
  std::int64_t log_start = 0;
  std::int64_t high_watermark = 0;
};

struct TopicEntry {
  std::string name;
  std::int32_t partitions = 0;
};

struct PartitionEntry {
  std::int32_t partition = 0;
  std::int64_t log_start = 0;
  std::int64_t high_watermark = 0;
};

using StatEntry = std::pair<std::string, std::string>;

// The server's status code of an error produced by a Client from an `error <code> ...` reply;
// nullopt for errors of the connection or the client itself.
std::optional<StatusCode> server_status(const Error& error) noexcept;

// Splits the bytes of a `fetch` reply into batches, checking CRCs and skipping a cut tail
// (docs/protocol.md, fetch). kCorruption if a batch fails its CRC or the first batch is cut.
Status decode_fetch(std::int64_t requested_offset, FetchReply& reply);

class Client {
 public:
  static Result<std::unique_ptr<Client>> connect(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- blocking commands: one round trip each ----
  Result<std::int64_t> put(std::string_view topic, std::int32_t partition,
                           std::span<const std::byte> value,
                           std::optional<std::span<const std::byte>> key = std::nullopt);
  Result<AppendRange> putb(std::string_view topic, std::int32_t partition,
                           std::span<const std::byte> batches);
  Result<GetReply> get(std::string_view topic, std::int32_t partition, std::int64_t offset,
                       std::int32_t max_bytes = 65536, std::uint32_t wait_ms = 0);
  Result<FetchReply> fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                           std::int32_t max_bytes, std::uint32_t wait_ms = 0);
  // Reuses `out`'s buffers: the allocation-free form for consumers that loop.
  Status fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
               std::int32_t max_bytes, std::uint32_t wait_ms, FetchReply& out);
  Result<Offsets> offsets(std::string_view topic, std::int32_t partition);
  Status commit(std::string_view group, std::string_view topic, std::int32_t partition,
                std::int64_t offset);
  // -1 when the group has no committed offset.
  Result<std::int64_t> committed(std::string_view group, std::string_view topic,
                                 std::int32_t partition);
  Status create(std::string_view topic, std::int32_t partitions);
  Result<std::vector<TopicEntry>> topics();
  Result<std::vector<PartitionEntry>> describe(std::string_view topic);
  Status delete_topic(std::string_view topic);
  Result<std::vector<StatEntry>> stats(std::string_view topic = {});
  Result<std::string> version();
  Status ping();
  // Sends `quit` and waits for the server to close the connection.
  Status quit();

  // ---- pipelining: queue requests, then read their replies in order ----
  Status send_put(std::string_view topic, std::int32_t partition, std::span<const std::byte> value,
                  std::optional<std::span<const std::byte>> key = std::nullopt);
  Status send_putb(std::string_view topic, std::int32_t partition,
                   std::span<const std::byte> batches);
  Status send_get(std::string_view topic, std::int32_t partition, std::int64_t offset,
                  std::int32_t max_bytes = 65536, std::uint32_t wait_ms = 0);
  Status send_fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                    std::int32_t max_bytes, std::uint32_t wait_ms = 0);
  Status send_commit(std::string_view group, std::string_view topic, std::int32_t partition,
                     std::int64_t offset);
  Status send_ping();
  // Writes every queued request.
  Status flush();

  Result<std::int64_t> read_put();
  Result<AppendRange> read_putb();
  Result<GetReply> read_get(std::int64_t requested_offset);
  Status read_fetch(std::int64_t requested_offset, FetchReply& out);
  Status read_ok();  // commit, create, delete
  Status read_pong();

  // Requests sent (or queued) whose replies have not been read.
  std::size_t outstanding() const noexcept { return outstanding_; }
  bool broken() const noexcept { return broken_; }
  const ClientOptions& options() const noexcept { return options_; }

  // Sends raw bytes and reads one raw reply line (without "\r\n"): for tests and tools.
  Status send_raw(std::string_view bytes);
  Result<std::string> read_line_raw();

 private:
  class Reader;
  Client(int fd, ClientOptions options);

  Status usable() const;
  Status queued();  // counts the request, flushes when above flush_bytes
  int timeout_ms() const noexcept;
  // Reads a reply line into tokens_: an `error` line becomes the server's Error; a line that
  // is not `expect` with min..max tokens breaks the connection (kCorruption).
  Result<std::span<const std::string_view>> read_reply(std::string_view expect,
                                                       std::size_t min_tokens,
                                                       std::size_t max_tokens);
  // Reads lines of `word` with `tokens` tokens until `end`, calling `each` for every line.
  Status read_listing(std::string_view word, std::size_t tokens,
                      const std::function<Status(std::span<const std::string_view>)>& each);
  Result<std::int64_t> number(std::string_view token, bool allow_negative = false);
  std::unexpected<Error> broken_error(Error error);
  std::unexpected<Error> corrupt_reply(std::string_view why);

  int fd_ = -1;
  ClientOptions options_;
  std::string out_;  // queued request bytes
  std::unique_ptr<Reader> reader_;
  std::size_t outstanding_ = 0;
  bool broken_ = false;
  std::uint32_t extra_wait_ms_ = 0;  // the longest wait_ms among outstanding requests
  std::string_view line_;            // the reply line being read (in the reader's buffer)
  std::array<std::string_view, 8> tokens_;
};

// Batches messages into RecordBatch v2 (BatchBuilder) per partition and sends them as pipelined
// `putb` requests over one Client.
//
// A partition's batch is sent when it reaches `batch_bytes`, when its first message is older
// than `linger_us` (checked in add() and poll()), or on flush(). At most `max_in_flight` putb
// requests are outstanding; add() reads replies (blocking) to stay below that. Every sent batch
// is reported once to `on_ack`, in order, with its offsets or its error.
// Threading: one thread at a time; borrows the Client, which it alone must use meanwhile.
class Producer {
 public:
  struct Options {
    std::size_t batch_bytes = 64 << 10;
    std::uint32_t linger_us = 1000;
    std::size_t max_in_flight = 64;
  };
  struct Ack {
    std::string_view topic;
    std::int32_t partition = 0;
    std::int32_t records = 0;
    std::chrono::steady_clock::time_point first_added;  // when the batch's first record came
    Result<AppendRange> result;
  };
  using AckCallback = std::function<void(const Ack&)>;

  Producer(Client& client, Options options, AckCallback on_ack);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  Status add(std::string_view topic, std::int32_t partition, std::span<const std::byte> value,
             std::optional<std::span<const std::byte>> key = std::nullopt);
  // Sends the batches whose linger expired.
  Status poll();
  // Sends every partial batch and reads every outstanding reply.
  Status flush();

 private:
  struct Pending;
  struct InFlight {
    const Pending* pending;
    std::int32_t records;
    std::chrono::steady_clock::time_point first_added;
  };
  Status send_batch(Pending& pending);
  Status read_one();

  Client& client_;
  Options options_;
  AckCallback on_ack_;
  // One builder per partition, kept (with its buffer) for the Producer's lifetime.
  struct PartitionLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      const std::string_view x = a.first;
      const std::string_view y = b.first;
      return x < y || (x == y && a.second < b.second);
    }
  };
  std::map<std::pair<std::string, std::int32_t>, std::unique_ptr<Pending>, PartitionLess> pending_;
  std::deque<InFlight> in_flight_;  // oldest first: replies come in this order
};

}  // namespace ringlog::protocol
