#include "protocol/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include <ringlog/engine.h>

#include "io/socket.h"
#include "protocol/lexical.h"

namespace ringlog::protocol {

namespace {

constexpr std::size_t kMaxReplyTokens = 8;
constexpr std::string_view kServerPrefix = "server: ";
constexpr std::uint64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

// Any batch size is plausible (the server's limits apply elsewhere), so that a batch running
// past the end of the bytes is reported as kTruncated, not kBadLength. CRCs are checked.
ParseOptions any_size() {
  ParseOptions options;
  options.max_batch_bytes = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
  return options;
}

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

void append_token(std::string& out, std::string_view token) {
  out.push_back(' ');
  out.append(token);
}

void append_number_token(std::string& out, std::int64_t value) {
  out.push_back(' ');
  append_number(out, value);
}

std::string_view text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Status check_name(std::string_view name, std::string_view what) {
  const std::string problem = what == "group" ? group_id_problem(name) : topic_name_problem(name);
  if (problem.empty()) return {};
  return fail(Errc::kInvalidArgument, "bad " + std::string(what) + " name '" +
                                          std::string(name.substr(0, 64)) + "': " + problem);
}

Result<int> connect_tcp(const std::string& address) {
  auto where = parse_address(address);
  if (!where) return std::unexpected(where.error());
  auto fd = connect_to(*where);
  if (!fd) return std::unexpected(fd.error().with_context("connect " + address));
  (void)set_nodelay(fd->get());
  return fd->release();
}

}  // namespace

std::optional<StatusCode> server_status(const Error& error) noexcept {
  std::string_view message = error.message();
  constexpr std::string_view kLead = "server: error ";
  if (!message.starts_with(kLead)) return std::nullopt;
  const auto code = parse_decimal(message.substr(kLead.size(), 3), 999);
  if (!code) return std::nullopt;
  return status_code_from_int(static_cast<int>(*code));
}

// ---- Reader: buffered reads of reply lines and bodies -------------------------------------------

class Client::Reader {
 public:
  Reader(int fd, std::size_t max_line_bytes)
      : fd_(fd),
        max_line_bytes_(max_line_bytes),
        buffer_(std::max<std::size_t>(max_line_bytes, 64 << 10)) {}

  // The next line without its "\r\n" (or "\n"); valid until the next call.
  Result<std::string_view> line(int timeout_ms) {
    std::size_t scanned = begin_;
    for (;;) {
      const char* data = buffer_.data();
      const void* nl = std::memchr(data + scanned, '\n', end_ - scanned);
      if (nl != nullptr) {
        const auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
        std::string_view text(data + begin_, at - begin_);
        begin_ = at + 1;
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        return text;
      }
      if (end_ - begin_ >= max_line_bytes_) {
        return fail(Errc::kCorruption,
                    "reply line longer than " + std::to_string(max_line_bytes_) + " bytes");
      }
      scanned = end_ - begin_;
      if (auto filled = fill(timeout_ms); !filled) return std::unexpected(filled.error());
      scanned += begin_;
    }
  }

  // Reads exactly dst.size() bytes: what is buffered first, then straight from the socket.
  Status read_into(std::span<std::byte> dst, int timeout_ms) {
    const std::size_t buffered = std::min(dst.size(), end_ - begin_);
    if (buffered > 0) std::memcpy(dst.data(), buffer_.data() + begin_, buffered);
    begin_ += buffered;
    std::size_t got = buffered;
    while (got < dst.size()) {
      auto n = receive(dst.data() + got, dst.size() - got, timeout_ms);
      if (!n) return std::unexpected(n.error());
      got += *n;
    }
    return {};
  }

  // The "\r\n" (or "\n") that ends a body.
  Status line_end(int timeout_ms) {
    auto text = line(timeout_ms);
    if (!text) return std::unexpected(text.error());
    if (!text->empty()) return fail(Errc::kCorruption, "reply body not followed by \\r\\n");
    return {};
  }

 private:
  Status fill(int timeout_ms) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    auto n = receive(buffer_.data() + end_, buffer_.size() - end_, timeout_ms);
    if (!n) return std::unexpected(n.error());
    end_ += *n;
    return {};
  }

  // recv() at least one byte, waiting up to timeout_ms (-1: forever).
  Result<std::size_t> receive(void* dst, std::size_t size, int timeout_ms) {
    for (;;) {
      const ssize_t n = ::recv(fd_, dst, size, MSG_DONTWAIT);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) return fail(Errc::kClosed, "the server closed the connection");
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return std::unexpected(error_from_errno(errno, "recv"));
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, timeout_ms);
      if (ready == 0)
        return fail(Errc::kTimedOut, "no reply within " + std::to_string(timeout_ms) + " ms");
      if (ready < 0 && errno != EINTR) return std::unexpected(error_from_errno(errno, "poll"));
    }
  }

  int fd_;
  std::size_t max_line_bytes_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// ---- connection ---------------------------------------------------------------------------------

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  auto fd = connect_tcp(options.address);
  if (!fd) return std::unexpected(fd.error());
  if (options.io_timeout_ms > 0) {
    timeval tv{};
    tv.tv_sec = options.io_timeout_ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>(options.io_timeout_ms % 1000) * 1000;
    ::setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  return std::unique_ptr<Client>(new Client(*fd, std::move(options)));
}

Client::Client(int fd, ClientOptions options)
    : fd_(fd),
      options_(std::move(options)),
      reader_(std::make_unique<Reader>(fd, options_.max_reply_line_bytes)) {
  out_.reserve(options_.flush_bytes + 4096);
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

std::unexpected<Error> Client::broken_error(Error error) {
  broken_ = true;
  return std::unexpected(std::move(error));
}

Status Client::flush() {
  if (broken_) return fail(Errc::kClosed, "connection is broken");
  std::size_t sent = 0;
  while (sent < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return broken_error(Error(Errc::kTimedOut, "send timed out"));
    return broken_error(error_from_errno(errno, "send"));
  }
  out_.clear();
  return {};
}

Status Client::queued() {
  ++outstanding_;
  if (out_.size() > options_.flush_bytes) return flush();
  return {};
}

Status Client::send_raw(std::string_view bytes) {
  out_.append(bytes);
  return flush();
}

Result<std::string> Client::read_line_raw() {
  auto text =
      reader_->line(options_.io_timeout_ms == 0 ? -1 : static_cast<int>(options_.io_timeout_ms));
  if (!text) return broken_error(text.error());
  return std::string(*text);
}

Status Client::usable() const {
  if (broken_) return fail(Errc::kClosed, "connection is broken");
  return {};
}

int Client::timeout_ms() const noexcept {
  if (options_.io_timeout_ms == 0) return -1;
  return static_cast<int>(options_.io_timeout_ms + extra_wait_ms_);
}

std::unexpected<Error> Client::corrupt_reply(std::string_view why) {
  return broken_error(Error(Errc::kCorruption, std::string(why) + " in reply '" +
                                                   std::string(line_.substr(0, 128)) + "'"));
}

namespace {

// Splits on single spaces. `error` and `stat` lines keep the rest of the line as their third
// token (a message or a value may contain spaces). Returns kMaxReplyTokens + 1 on overflow.
std::size_t split_reply(std::string_view line, std::array<std::string_view, 8>& tokens) {
  std::size_t count = 0;
  std::size_t max_split = tokens.size();
  while (!line.empty()) {
    if (count == max_split - 1 && max_split < tokens.size()) {
      tokens[count++] = line;
      break;
    }
    if (count == tokens.size()) return tokens.size() + 1;
    const std::size_t space = line.find(' ');
    tokens[count++] = line.substr(0, space);
    if (count == 1 && (tokens[0] == "error" || tokens[0] == "stat")) max_split = 3;
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return count;
}

}  // namespace

Result<std::span<const std::string_view>> Client::read_reply(std::string_view expect,
                                                             std::size_t min_tokens,
                                                             std::size_t max_tokens) {
  if (auto ok = usable(); !ok) return std::unexpected(ok.error());
  auto text = reader_->line(timeout_ms());
  if (!text) return broken_error(text.error());
  line_ = *text;
  const std::size_t count = split_reply(line_, tokens_);
  if (count >= 2 && tokens_[0] == "error") {
    const auto code = parse_decimal(tokens_[1], 999);
    const auto status = code ? status_code_from_int(static_cast<int>(*code)) : std::nullopt;
    const Errc errc = status ? errc_from_status_code(*status) : Errc::kInternal;
    return std::unexpected(Error(errc, std::string(kServerPrefix) + std::string(line_)));
  }
  if (count == 0 || tokens_[0] != expect || count < min_tokens || count > max_tokens) {
    return corrupt_reply("expected '" + std::string(expect) + "'");
  }
  return std::span<const std::string_view>(tokens_.data(), count);
}

Result<std::int64_t> Client::number(std::string_view token, bool allow_negative) {
  const auto value = allow_negative
                         ? parse_signed_decimal(token)
                         : parse_decimal(token, kMaxInt64).transform([](std::uint64_t v) {
                             return static_cast<std::int64_t>(v);
                           });
  if (!value) return corrupt_reply("bad number '" + std::string(token.substr(0, 32)) + "'");
  return *value;
}

Status Client::read_listing(std::string_view word, std::size_t tokens,
                            const std::function<Status(std::span<const std::string_view>)>& each) {
  if (outstanding_ > 0) --outstanding_;
  for (;;) {
    if (auto ok = usable(); !ok) return ok;
    auto text = reader_->line(timeout_ms());
    if (!text) return broken_error(text.error());
    line_ = *text;
    if (line_ == "end") return {};
    const std::size_t count = split_reply(line_, tokens_);
    if (count >= 2 && tokens_[0] == "error") {
      const auto code = parse_decimal(tokens_[1], 999);
      const auto status = code ? status_code_from_int(static_cast<int>(*code)) : std::nullopt;
      return fail(status ? errc_from_status_code(*status) : Errc::kInternal,
                  std::string(kServerPrefix) + std::string(line_));
    }
    if (count != tokens || tokens_[0] != word)
      return corrupt_reply("expected '" + std::string(word) + "'");
    if (auto ok = each({tokens_.data(), count}); !ok) return ok;
  }
}

// ---- requests -----------------------------------------------------------------------------------

Status Client::send_put(std::string_view topic, std::int32_t partition,
                        std::span<const std::byte> value,
                        std::optional<std::span<const std::byte>> key) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("put");
  append_token(out_, topic);
  append_number_token(out_, partition);
  append_number_token(out_, static_cast<std::int64_t>(value.size()));
  if (key) {
    if (is_plain_key(*key)) {
      out_.append(" key=");
      out_.append(text_of(*key));
    } else {
      out_.append(" keyhex=");
      append_hex(out_, *key);
    }
  }
  out_.append("\r\n");
  out_.append(text_of(value));
  out_.append("\r\n");
  return queued();
}

Status Client::send_putb(std::string_view topic, std::int32_t partition,
                         std::span<const std::byte> batches) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("putb");
  append_token(out_, topic);
  append_number_token(out_, partition);
  append_number_token(out_, static_cast<std::int64_t>(batches.size()));
  out_.append("\r\n");
  out_.append(text_of(batches));
  out_.append("\r\n");
  return queued();
}

Status Client::send_get(std::string_view topic, std::int32_t partition, std::int64_t offset,
                        std::int32_t max_bytes, std::uint32_t wait_ms) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("get");
  append_token(out_, topic);
  append_number_token(out_, partition);
  append_number_token(out_, offset);
  append_number_token(out_, max_bytes);
  append_number_token(out_, wait_ms);
  out_.append("\r\n");
  extra_wait_ms_ = std::max(extra_wait_ms_, wait_ms);
  return queued();
}

Status Client::send_fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                          std::int32_t max_bytes, std::uint32_t wait_ms) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("fetch");
  append_token(out_, topic);
  append_number_token(out_, partition);
  append_number_token(out_, offset);
  append_number_token(out_, max_bytes);
  if (wait_ms > 0) append_number_token(out_, wait_ms);
  out_.append("\r\n");
  extra_wait_ms_ = std::max(extra_wait_ms_, wait_ms);
  return queued();
}

Status Client::send_commit(std::string_view group, std::string_view topic, std::int32_t partition,
                           std::int64_t offset) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(group, "group"); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("commit");
  append_token(out_, group);
  append_token(out_, topic);
  append_number_token(out_, partition);
  append_number_token(out_, offset);
  out_.append("\r\n");
  return queued();
}

Status Client::send_ping() {
  if (auto ok = usable(); !ok) return ok;
  out_.append("ping\r\n");
  return queued();
}

// ---- replies ------------------------------------------------------------------------------------

Result<std::int64_t> Client::read_put() {
  if (outstanding_ > 0) --outstanding_;
  auto tokens = read_reply("ok", 2, 2);
  if (!tokens) return std::unexpected(tokens.error());
  return number((*tokens)[1]);
}

Result<AppendRange> Client::read_putb() {
  if (outstanding_ > 0) --outstanding_;
  auto tokens = read_reply("ok", 3, 3);
  if (!tokens) return std::unexpected(tokens.error());
  auto first = number((*tokens)[1]);
  if (!first) return std::unexpected(first.error());
  auto last = number((*tokens)[2]);
  if (!last) return std::unexpected(last.error());
  return AppendRange{*first, *last};
}

Status Client::read_ok() {
  if (outstanding_ > 0) --outstanding_;
  auto tokens = read_reply("ok", 1, 1);
  if (!tokens) return std::unexpected(tokens.error());
  return {};
}

Status Client::read_pong() {
  if (outstanding_ > 0) --outstanding_;
  auto tokens = read_reply("pong", 1, 1);
  if (!tokens) return std::unexpected(tokens.error());
  return {};
}

Result<GetReply> Client::read_get(std::int64_t requested_offset) {
  if (outstanding_ > 0) --outstanding_;
  GetReply reply;
  reply.next_offset = requested_offset;
  for (;;) {
    if (auto ok = usable(); !ok) return std::unexpected(ok.error());
    auto text = reader_->line(timeout_ms());
    if (!text) return broken_error(text.error());
    line_ = *text;
    const std::size_t count = split_reply(line_, tokens_);
    if (count >= 2 && tokens_[0] == "error") {
      const auto code = parse_decimal(tokens_[1], 999);
      const auto status = code ? status_code_from_int(static_cast<int>(*code)) : std::nullopt;
      return fail(status ? errc_from_status_code(*status) : Errc::kInternal,
                  std::string(kServerPrefix) + std::string(line_));
    }
    if (count == 2 && tokens_[0] == "end") {
      auto next = number(tokens_[1]);
      if (!next) return std::unexpected(next.error());
      reply.next_offset = *next;
      if (outstanding_ == 0) extra_wait_ms_ = 0;
      return reply;
    }
    if (count < 4 || count > 5 || tokens_[0] != "msg")
      return corrupt_reply("expected 'msg' or 'end'");
    Message message;
    auto offset = number(tokens_[1]);
    auto timestamp = offset ? number(tokens_[2], true) : offset;
    auto length = timestamp ? number(tokens_[3]) : timestamp;
    if (!length) return std::unexpected(length.error());
    if (static_cast<std::uint64_t>(*length) > options_.max_reply_body_bytes)
      return corrupt_reply("body too large");
    message.offset = *offset;
    message.timestamp_ms = *timestamp;
    if (count == 5) {
      const std::string_view key = tokens_[4];
      std::string decoded;
      if (key.starts_with("key=")) {
        message.key = std::string(key.substr(4));
      } else if (key.starts_with("keyhex=") && decode_hex(key.substr(7), decoded)) {
        message.key = std::move(decoded);
      } else {
        return corrupt_reply("bad key");
      }
    }
    message.value.resize(static_cast<std::size_t>(*length));
    auto body = reader_->read_into(std::as_writable_bytes(std::span(message.value)), timeout_ms());
    if (body) body = reader_->line_end(timeout_ms());
    if (!body) return broken_error(body.error());
    reply.messages.push_back(std::move(message));
  }
}

Status Client::read_fetch(std::int64_t requested_offset, FetchReply& out) {
  if (outstanding_ > 0) --outstanding_;
  auto tokens = read_reply("batches", 3, 3);
  if (!tokens) return std::unexpected(tokens.error());
  auto length = number((*tokens)[1]);
  if (!length) return std::unexpected(length.error());
  auto hw = number((*tokens)[2]);
  if (!hw) return std::unexpected(hw.error());
  if (static_cast<std::uint64_t>(*length) > options_.max_reply_body_bytes)
    return corrupt_reply("body too large");
  out.high_watermark = *hw;
  out.bytes.resize(static_cast<std::size_t>(*length));
  auto body = reader_->read_into(out.bytes, timeout_ms());
  if (body) body = reader_->line_end(timeout_ms());
  if (!body) return broken_error(body.error());
  if (outstanding_ == 0) extra_wait_ms_ = 0;
  return decode_fetch(requested_offset, out);
}

Status decode_fetch(std::int64_t requested_offset, FetchReply& reply) {
  reply.batches.clear();
  reply.cut_tail_bytes = 0;
  reply.next_offset = requested_offset;
  std::span<const std::byte> rest(reply.bytes);
  while (!rest.empty()) {
    const ParsedBatch parsed = parse_batch(rest, any_size());
    if (parsed.ok()) {
      reply.batches.push_back(parsed.batch);
      reply.next_offset = parsed.batch.next_offset();
      rest = rest.subspan(parsed.bytes);
      continue;
    }
    const bool cut = parsed.status == ParseStatus::kTruncated ||
                     parsed.status == ParseStatus::kShortHeader ||
                     (parsed.status == ParseStatus::kZeroFilled && rest.size() <= kMagicAt);
    if (cut && !reply.batches.empty()) {
      reply.cut_tail_bytes = rest.size();
      return {};
    }
    return fail(Errc::kCorruption,
                std::string("fetch reply: ") + (cut ? "first batch cut" : "bad batch") + " (" +
                    std::string(parse_status_name(parsed.status)) + ") at byte " +
                    std::to_string(reply.bytes.size() - rest.size()));
  }
  return {};
}

// ---- blocking commands --------------------------------------------------------------------------

Result<std::int64_t> Client::put(std::string_view topic, std::int32_t partition,
                                 std::span<const std::byte> value,
                                 std::optional<std::span<const std::byte>> key) {
  if (auto ok = send_put(topic, partition, value, key); !ok) return std::unexpected(ok.error());
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  return read_put();
}

Result<AppendRange> Client::putb(std::string_view topic, std::int32_t partition,
                                 std::span<const std::byte> batches) {
  if (auto ok = send_putb(topic, partition, batches); !ok) return std::unexpected(ok.error());
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  return read_putb();
}

Result<GetReply> Client::get(std::string_view topic, std::int32_t partition, std::int64_t offset,
                             std::int32_t max_bytes, std::uint32_t wait_ms) {
  if (auto ok = send_get(topic, partition, offset, max_bytes, wait_ms); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  return read_get(offset);
}

Status Client::fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                     std::int32_t max_bytes, std::uint32_t wait_ms, FetchReply& out) {
  if (auto ok = send_fetch(topic, partition, offset, max_bytes, wait_ms); !ok) return ok;
  if (auto ok = flush(); !ok) return ok;
  return read_fetch(offset, out);
}

Result<FetchReply> Client::fetch(std::string_view topic, std::int32_t partition,
                                 std::int64_t offset, std::int32_t max_bytes,
                                 std::uint32_t wait_ms) {
  FetchReply reply;
  if (auto ok = fetch(topic, partition, offset, max_bytes, wait_ms, reply); !ok) {
    return std::unexpected(ok.error());
  }
  return reply;
}

Result<Offsets> Client::offsets(std::string_view topic, std::int32_t partition) {
  if (auto ok = usable(); !ok) return std::unexpected(ok.error());
  if (auto ok = check_name(topic, "topic"); !ok) return std::unexpected(ok.error());
  out_.append("offsets");
  append_token(out_, topic);
  append_number_token(out_, partition);
  out_.append("\r\n");
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  auto tokens = read_reply("offsets", 3, 3);
  if (!tokens) return std::unexpected(tokens.error());
  auto log_start = number((*tokens)[1]);
  if (!log_start) return std::unexpected(log_start.error());
  auto hw = number((*tokens)[2]);
  if (!hw) return std::unexpected(hw.error());
  return Offsets{*log_start, *hw};
}

Status Client::commit(std::string_view group, std::string_view topic, std::int32_t partition,
                      std::int64_t offset) {
  if (auto ok = send_commit(group, topic, partition, offset); !ok) return ok;
  if (auto ok = flush(); !ok) return ok;
  return read_ok();
}

Result<std::int64_t> Client::committed(std::string_view group, std::string_view topic,
                                       std::int32_t partition) {
  if (auto ok = usable(); !ok) return std::unexpected(ok.error());
  if (auto ok = check_name(group, "group"); !ok) return std::unexpected(ok.error());
  if (auto ok = check_name(topic, "topic"); !ok) return std::unexpected(ok.error());
  out_.append("committed");
  append_token(out_, group);
  append_token(out_, topic);
  append_number_token(out_, partition);
  out_.append("\r\n");
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  auto tokens = read_reply("offset", 2, 2);
  if (!tokens) return std::unexpected(tokens.error());
  return number((*tokens)[1], /*allow_negative=*/true);
}

Status Client::create(std::string_view topic, std::int32_t partitions) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("create");
  append_token(out_, topic);
  append_number_token(out_, partitions);
  out_.append("\r\n");
  if (auto ok = flush(); !ok) return ok;
  return read_ok();
}

Status Client::delete_topic(std::string_view topic) {
  if (auto ok = usable(); !ok) return ok;
  if (auto ok = check_name(topic, "topic"); !ok) return ok;
  out_.append("delete");
  append_token(out_, topic);
  out_.append("\r\n");
  if (auto ok = flush(); !ok) return ok;
  return read_ok();
}

Result<std::vector<TopicEntry>> Client::topics() {
  if (auto ok = send_raw("topics\r\n"); !ok) return std::unexpected(ok.error());
  std::vector<TopicEntry> entries;
  auto ok = read_listing("topic", 3, [&](std::span<const std::string_view> t) -> Status {
    auto partitions = number(t[2]);
    if (!partitions) return std::unexpected(partitions.error());
    entries.push_back({std::string(t[1]), static_cast<std::int32_t>(*partitions)});
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return entries;
}

Result<std::vector<PartitionEntry>> Client::describe(std::string_view topic) {
  if (auto ok = check_name(topic, "topic"); !ok) return std::unexpected(ok.error());
  if (auto ok = send_raw("describe " + std::string(topic) + "\r\n"); !ok) {
    return std::unexpected(ok.error());
  }
  std::vector<PartitionEntry> entries;
  auto ok = read_listing("partition", 4, [&](std::span<const std::string_view> t) -> Status {
    auto partition = number(t[1]);
    auto log_start = partition ? number(t[2]) : partition;
    auto hw = log_start ? number(t[3]) : log_start;
    if (!hw) return std::unexpected(hw.error());
    entries.push_back({static_cast<std::int32_t>(*partition), *log_start, *hw});
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return entries;
}

Result<std::vector<StatEntry>> Client::stats(std::string_view topic) {
  if (!topic.empty()) {
    if (auto ok = check_name(topic, "topic"); !ok) return std::unexpected(ok.error());
  }
  const std::string line = topic.empty() ? "stats\r\n" : "stats " + std::string(topic) + "\r\n";
  if (auto ok = send_raw(line); !ok) return std::unexpected(ok.error());
  std::vector<StatEntry> entries;
  auto ok = read_listing("stat", 3, [&](std::span<const std::string_view> t) -> Status {
    entries.emplace_back(std::string(t[1]), std::string(t[2]));
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return entries;
}

Result<std::string> Client::version() {
  if (auto ok = send_raw("version\r\n"); !ok) return std::unexpected(ok.error());
  auto tokens = read_reply("version", 2, 2);
  if (!tokens) return std::unexpected(tokens.error());
  return std::string((*tokens)[1]);
}

Status Client::ping() {
  if (auto ok = send_ping(); !ok) return ok;
  if (auto ok = flush(); !ok) return ok;
  return read_pong();
}

Status Client::quit() {
  if (auto ok = send_raw("quit\r\n"); !ok) return ok;
  auto text = reader_->line(timeout_ms());
  broken_ = true;
  if (text) return fail(Errc::kCorruption, "reply to quit: '" + std::string(*text) + "'");
  if (text.error().code() == Errc::kClosed) return {};
  return std::unexpected(text.error());
}

// ---- Producer -----------------------------------------------------------------------------------

struct Producer::Pending {
  std::string topic;
  std::int32_t partition = 0;
  BatchBuilder builder;
  std::chrono::steady_clock::time_point first_added;
};

Producer::Producer(Client& client, Options options, AckCallback on_ack)
    : client_(client), options_(options), on_ack_(std::move(on_ack)) {}

Producer::~Producer() = default;

Status Producer::add(std::string_view topic, std::int32_t partition,
                     std::span<const std::byte> value,
                     std::optional<std::span<const std::byte>> key) {
  auto it = pending_.find(std::pair(topic, partition));
  if (it == pending_.end()) {
    auto fresh = std::make_unique<Pending>();
    fresh->topic = std::string(topic);
    fresh->partition = partition;
    it = pending_.emplace(std::pair(fresh->topic, partition), std::move(fresh)).first;
  }
  Pending& pending = *it->second;
  const std::size_t record_bytes = value.size() + (key ? key->size() : 0) + 32;
  if (pending.builder.record_count() > 0 &&
      pending.builder.size_bytes() + record_bytes > options_.batch_bytes) {
    if (auto ok = send_batch(pending); !ok) return ok;
  }
  const auto now = std::chrono::steady_clock::now();
  if (pending.builder.record_count() == 0) pending.first_added = now;
  pending.builder.add(key, value);
  if (pending.builder.size_bytes() >= options_.batch_bytes ||
      now - pending.first_added >= std::chrono::microseconds(options_.linger_us)) {
    return send_batch(pending);
  }
  return {};
}

Status Producer::poll() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [key, pending] : pending_) {
    if (pending->builder.record_count() > 0 &&
        now - pending->first_added >= std::chrono::microseconds(options_.linger_us)) {
      if (auto ok = send_batch(*pending); !ok) return ok;
    }
  }
  return {};
}

Status Producer::flush() {
  for (auto& [key, pending] : pending_) {
    if (pending->builder.record_count() > 0) {
      if (auto ok = send_batch(*pending); !ok) return ok;
    }
  }
  while (!in_flight_.empty()) {
    if (auto ok = read_one(); !ok) return ok;
  }
  return {};
}

Status Producer::send_batch(Pending& pending) {
  while (in_flight_.size() >= std::max<std::size_t>(options_.max_in_flight, 1)) {
    if (auto ok = read_one(); !ok) return ok;
  }
  const std::span<const std::byte> bytes = pending.builder.finish();
  if (auto ok = client_.send_putb(pending.topic, pending.partition, bytes); !ok) return ok;
  in_flight_.push_back({&pending, pending.builder.record_count(), pending.first_added});
  pending.builder.reset();
  return client_.flush();
}

Status Producer::read_one() {
  const InFlight sent = in_flight_.front();
  in_flight_.pop_front();
  Ack ack{sent.pending->topic, sent.pending->partition, sent.records, sent.first_added,
          client_.read_putb()};
  const bool broken = client_.broken();
  Status status = broken ? Status(std::unexpected(ack.result.error())) : Status();
  if (on_ack_) on_ack_(ack);
  return status;
}

}  // namespace ringlog::protocol
