#include "protocol/request.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include <ringlog/engine.h>

#include "io/assert.h"
#include "protocol/lexical.h"

namespace ringlog::protocol {

namespace {

constexpr std::size_t kMaxTokens = 8;
constexpr std::size_t kMinReceiveBytes = 4096;
constexpr std::size_t kKeepCapacityBytes = 256 << 10;
constexpr std::size_t kMaxEchoBytes = 64;

struct CommandSpec {
  std::string_view name;
  Command command;
  std::uint8_t min_tokens;  // including the command itself
  std::uint8_t max_tokens;
  bool has_body;
  std::string_view usage;
};

constexpr std::array<CommandSpec, 15> kSpecs = {{
    {"put", Command::kPut, 4, 5, true, "put <topic> <partition> <length> [key=<key>]"},
    {"putb", Command::kPutb, 4, 4, true, "putb <topic> <partition> <length>"},
    {"get", Command::kGet, 4, 6, false,
     "get <topic> <partition> <offset> [<max_bytes> [<wait_ms>]]"},
    {"fetch", Command::kFetch, 5, 6, false,
     "fetch <topic> <partition> <offset> <max_bytes> [<wait_ms>]"},
    {"offsets", Command::kOffsets, 3, 3, false, "offsets <topic> <partition>"},
    {"commit", Command::kCommit, 5, 5, false, "commit <group> <topic> <partition> <offset>"},
    {"committed", Command::kCommitted, 4, 4, false, "committed <group> <topic> <partition>"},
    {"create", Command::kCreate, 3, 3, false, "create <topic> <partitions>"},
    {"topics", Command::kTopics, 1, 1, false, "topics"},
    {"describe", Command::kDescribe, 2, 2, false, "describe <topic>"},
    {"delete", Command::kDelete, 2, 2, false, "delete <topic>"},
    {"stats", Command::kStats, 1, 2, false, "stats [<topic>]"},
    {"version", Command::kVersion, 1, 1, false, "version"},
    {"ping", Command::kPing, 1, 1, false, "ping"},
    {"quit", Command::kQuit, 1, 1, false, "quit"},
}};

const CommandSpec* find_spec(std::string_view name) noexcept {
  for (const CommandSpec& spec : kSpecs) {
    if (equals_ignore_case(spec.name, name)) return &spec;
  }
  return nullptr;
}

// A token for an error message: at most kMaxEchoBytes, so a reply line stays short.
std::string echo(std::string_view token) {
  std::string out(token.substr(0, kMaxEchoBytes));
  if (token.size() > kMaxEchoBytes) out += "...";
  return out;
}

}  // namespace

struct RequestParser::LineScan {
  const CommandSpec* spec = nullptr;
  std::array<std::string_view, kMaxTokens> tokens;
  std::size_t count = 0;
  bool overflow = false;  // more than kMaxTokens tokens

  explicit LineScan(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
        ++i;
      if (i == line.size()) break;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t')
        ++j;
      if (count == kMaxTokens) {
        overflow = true;
        break;
      }
      tokens[count++] = line.substr(i, j - i);
      i = j;
    }
    if (count > 0) spec = find_spec(tokens[0]);
  }
};

std::string_view command_name(Command command) noexcept {
  for (const CommandSpec& spec : kSpecs) {
    if (spec.command == command) return spec.name;
  }
  return "?";
}

std::string_view parse_outcome_name(ParseOutcome outcome) noexcept {
  switch (outcome) {
    case ParseOutcome::kNeedMore:
      return "need_more";
    case ParseOutcome::kReady:
      return "ready";
    case ParseOutcome::kBadRequest:
      return "bad_request";
    case ParseOutcome::kFramingLost:
      return "framing_lost";
  }
  return "?";
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  RINGLOG_ASSERT(limits_.max_line_bytes >= 2);
  relocate(std::max(limits_.initial_buffer_bytes, limits_.max_line_bytes));
}

// ---- buffer -------------------------------------------------------------------------------------

std::size_t RequestParser::needed_bytes() const noexcept {
  switch (state_) {
    case State::kLine:
      return limits_.max_line_bytes;
    case State::kBody:
      return line_bytes_ + body_bytes_ + 2;
    default:
      return 2;
  }
}

std::size_t RequestParser::incomplete_request_bytes() const noexcept {
  if (state_ != State::kBody) return 0;
  const std::size_t total = line_bytes_ + body_bytes_ + 2;
  return end_ - begin_ < total ? total : 0;
}

// Moves the buffered bytes to the front of a buffer of `capacity` bytes (a new one if the size
// changes).
void RequestParser::relocate(std::size_t capacity) {
  const std::size_t used = end_ - begin_;
  RINGLOG_ASSERT(capacity >= used);
  if (capacity != capacity_) {
    auto fresh = std::make_unique_for_overwrite<std::byte[]>(capacity);
    if (used > 0) std::memcpy(fresh.get(), buffer_.get() + begin_, used);
    buffer_ = std::move(fresh);
    capacity_ = capacity;
  } else if (begin_ > 0 && used > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, used);
  }
  scan_ = scan_ > begin_ ? scan_ - begin_ : 0;
  begin_ = 0;
  end_ = used;
}

std::span<std::byte> RequestParser::prepare() {
  if (state_ == State::kLost) return {};
  const std::size_t base = std::max(limits_.initial_buffer_bytes, limits_.max_line_bytes);
  const std::size_t need = needed_bytes();
  if (begin_ == end_ && capacity_ > kKeepCapacityBytes && need <= base) {
    relocate(base);
  } else if (capacity_ < need) {
    relocate(need);
  } else if (begin_ > 0 && (capacity_ - end_ < kMinReceiveBytes || begin_ + need > capacity_)) {
    relocate(capacity_);
  }
  return {buffer_.get() + end_, capacity_ - end_};
}

void RequestParser::commit(std::size_t n) {
  RINGLOG_ASSERT(n <= capacity_ - end_);
  end_ += n;
}

std::size_t RequestParser::feed(std::span<const std::byte> bytes) {
  std::size_t taken = 0;
  while (taken < bytes.size()) {
    std::span<std::byte> space = prepare();
    if (space.empty()) break;
    const std::size_t n = std::min(space.size(), bytes.size() - taken);
    std::memcpy(space.data(), bytes.data() + taken, n);
    commit(n);
    taken += n;
  }
  return taken;
}

std::size_t RequestParser::feed(std::string_view text) {
  return feed(std::as_bytes(std::span(text.data(), text.size())));
}

// ---- framing ------------------------------------------------------------------------------------

ParseOutcome RequestParser::next(Request& out) {
  for (;;) {
    std::optional<ParseOutcome> outcome;
    switch (state_) {
      case State::kLine:
        outcome = parse_line(out);
        break;
      case State::kBody:
        outcome = finish_body(out);
        break;
      case State::kSkip:
        outcome = skip_body();
        break;
      case State::kSkipTrailer:
        outcome = skip_trailer();
        break;
      case State::kLost:
        return ParseOutcome::kFramingLost;
    }
    if (outcome) return *outcome;
  }
}

std::optional<ParseOutcome> RequestParser::parse_line(Request& out) {
  const auto* data = reinterpret_cast<const char*>(buffer_.get());
  const void* nl = std::memchr(data + scan_, '\n', end_ - scan_);
  if (nl == nullptr) {
    if (end_ - begin_ >= limits_.max_line_bytes) {
      return lose_framing(
          StatusCode::kTooLarge,
          "line too long (limit " + std::to_string(limits_.max_line_bytes) + " bytes)");
    }
    scan_ = end_;
    return ParseOutcome::kNeedMore;
  }
  const std::size_t line_bytes = static_cast<const char*>(nl) - (data + begin_) + 1;
  if (line_bytes > limits_.max_line_bytes) {
    return lose_framing(
        StatusCode::kTooLarge,
        "line too long (limit " + std::to_string(limits_.max_line_bytes) + " bytes)");
  }
  return on_line(line_at_begin(line_bytes), line_bytes, out);
}

std::string_view RequestParser::line_at_begin(std::size_t line_bytes) const noexcept {
  std::string_view line(reinterpret_cast<const char*>(buffer_.get()) + begin_, line_bytes - 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::optional<ParseOutcome> RequestParser::on_line(std::string_view line, std::size_t line_bytes,
                                                   Request& out) {
  const LineScan scan(line);
  if (scan.count == 0) {  // an empty line: a person pressed Enter
    begin_ += line_bytes;
    scan_ = begin_;
    return std::nullopt;
  }
  if (scan.spec != nullptr && scan.spec->has_body) return begin_body(scan, line_bytes, out);
  begin_ += line_bytes;
  scan_ = begin_;
  if (scan.spec == nullptr) {
    return bad_request(StatusCode::kBadRequest, "unknown command '" + echo(scan.tokens[0]) + "'");
  }
  return fill(scan, out) ? ParseOutcome::kReady : ParseOutcome::kBadRequest;
}

std::optional<ParseOutcome> RequestParser::begin_body(const LineScan& scan, std::size_t line_bytes,
                                                      Request& out) {
  const std::string_view length_token = scan.count > 3 ? scan.tokens[3] : std::string_view();
  const auto length = parse_decimal(length_token, std::numeric_limits<std::uint64_t>::max());
  const std::size_t limit =
      scan.spec->command == Command::kPut ? limits_.max_message_bytes : limits_.max_batch_bytes;
  if (!length) {
    return lose_framing(
        StatusCode::kBadRequest,
        "bad length '" + echo(length_token) + "' (usage: " + std::string(scan.spec->usage) + ")");
  }
  if (*length > limit) {
    const std::string what = scan.spec->command == Command::kPut ? "message" : "batch";
    if (*length > limits_.max_skip_bytes) {
      return lose_framing(StatusCode::kTooLarge,
                          what + " of " + std::to_string(*length) + " bytes is too large to skip");
    }
    begin_ += line_bytes;
    start_skip(*length);
    return bad_request(StatusCode::kTooLarge, what + " of " + std::to_string(*length) +
                                                  " bytes exceeds the limit of " +
                                                  std::to_string(limit) + " bytes");
  }
  if (!fill(scan, out)) {
    begin_ += line_bytes;
    start_skip(*length);
    return ParseOutcome::kBadRequest;
  }
  state_ = State::kBody;
  line_bytes_ = line_bytes;
  body_bytes_ = static_cast<std::size_t>(*length);
  return finish_body(out);
}

std::optional<ParseOutcome> RequestParser::finish_body(Request& out) {
  const std::size_t total = line_bytes_ + body_bytes_;
  if (end_ - begin_ < total) return ParseOutcome::kNeedMore;
  const int trailer = trailer_bytes(begin_ + total);
  if (trailer == 0) return ParseOutcome::kNeedMore;
  if (trailer < 0) {
    return lose_framing(StatusCode::kBadRequest, "body not followed by \\r\\n");
  }
  // The line is scanned again: the buffer may have moved since begin_body() saw it.
  const LineScan scan(line_at_begin(line_bytes_));
  const bool ok = fill(scan, out);
  RINGLOG_ASSERT(ok);
  out.body = {buffer_.get() + begin_ + line_bytes_, body_bytes_};
  begin_ += total + static_cast<std::size_t>(trailer);
  scan_ = begin_;
  state_ = State::kLine;
  return ParseOutcome::kReady;
}

int RequestParser::trailer_bytes(std::size_t pos) const noexcept {
  if (pos >= end_) return 0;
  const auto c = static_cast<char>(buffer_[pos]);
  if (c == '\n') return 1;
  if (c != '\r') return -1;
  if (pos + 1 >= end_) return 0;
  return static_cast<char>(buffer_[pos + 1]) == '\n' ? 2 : -1;
}

void RequestParser::start_skip(std::uint64_t body_bytes) {
  skip_left_ = body_bytes;
  state_ = State::kSkip;
}

std::optional<ParseOutcome> RequestParser::skip_body() {
  const std::uint64_t n = std::min<std::uint64_t>(skip_left_, end_ - begin_);
  begin_ += static_cast<std::size_t>(n);
  skip_left_ -= n;
  if (skip_left_ > 0) return ParseOutcome::kNeedMore;
  state_ = State::kSkipTrailer;
  return std::nullopt;
}

std::optional<ParseOutcome> RequestParser::skip_trailer() {
  const int trailer = trailer_bytes(begin_);
  if (trailer == 0) return ParseOutcome::kNeedMore;
  if (trailer < 0) return lose_framing(StatusCode::kBadRequest, "body not followed by \\r\\n");
  begin_ += static_cast<std::size_t>(trailer);
  scan_ = begin_;
  state_ = State::kLine;
  return std::nullopt;
}

ParseOutcome RequestParser::bad_request(StatusCode code, std::string message) {
  error_.code = code;
  error_.message = std::move(message);
  return ParseOutcome::kBadRequest;
}

ParseOutcome RequestParser::lose_framing(StatusCode code, std::string message) {
  error_.code = code;
  error_.message = std::move(message);
  state_ = State::kLost;
  return ParseOutcome::kFramingLost;
}

// ---- arguments ----------------------------------------------------------------------------------

namespace {

// Each take_* checks one token and stores it, or describes the problem in `error`. Names follow
// the engine's rules (ringlog/engine.h), the same for every protocol and the CLI.
bool take_name(std::string_view token, std::string_view what, std::string_view& field,
               std::string& error) {
  const std::string problem = what == "group" ? group_id_problem(token) : topic_name_problem(token);
  if (problem.empty()) {
    field = token;
    return true;
  }
  error = "bad " + std::string(what) + " name '" + echo(token) + "'";
  return false;
}

template <typename T>
bool take_number(std::string_view token, std::string_view what, std::uint64_t max, T& field,
                 std::string& error) {
  if (const auto value = parse_decimal(token, max)) {
    field = static_cast<T>(*value);
    return true;
  }
  error = "bad " + std::string(what) + " '" + echo(token) + "'";
  return false;
}

constexpr std::uint64_t kMaxInt32 = std::numeric_limits<std::int32_t>::max();
constexpr std::uint64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

}  // namespace

bool RequestParser::fill(const LineScan& scan, Request& out) {
  out = Request{};
  out.command = scan.spec->command;
  if (scan.overflow || scan.count < scan.spec->min_tokens || scan.count > scan.spec->max_tokens) {
    error_.code = StatusCode::kBadRequest;
    error_.message = "wrong number of arguments (usage: " + std::string(scan.spec->usage) + ")";
    return false;
  }
  if (fill_arguments(scan, out)) return true;
  error_.code = StatusCode::kBadRequest;
  return false;
}

bool RequestParser::fill_arguments(const LineScan& scan, Request& out) {
  const auto& t = scan.tokens;
  const std::size_t n = scan.count;
  std::string& e = error_.message;
  switch (out.command) {
    case Command::kPut:
      if (!take_name(t[1], "topic", out.topic, e) ||
          !take_number(t[2], "partition", kMaxInt32, out.partition, e)) {
        return false;
      }
      if (n < 5) return true;
      out.has_key = true;
      if (t[4].starts_with("key=")) {
        out.key = t[4].substr(4);
        return true;
      }
      if (t[4].starts_with("keyhex=") && decode_hex(t[4].substr(7), key_storage_)) {
        out.key = key_storage_;
        return true;
      }
      e = "bad key '" + echo(t[4]) + "' (key=<key> or keyhex=<hex>)";
      return false;
    case Command::kPutb:
    case Command::kOffsets:
      return take_name(t[1], "topic", out.topic, e) &&
             take_number(t[2], "partition", kMaxInt32, out.partition, e);
    case Command::kGet:
    case Command::kFetch: {
      if (!take_name(t[1], "topic", out.topic, e) ||
          !take_number(t[2], "partition", kMaxInt32, out.partition, e) ||
          !take_number(t[3], "offset", kMaxInt64, out.offset, e) ||
          (n > 4 && !take_number(t[4], "max_bytes", kMaxInt32, out.max_bytes, e))) {
        return false;
      }
      std::uint64_t wait_ms = 0;
      if (n > 5 && !take_number(t[5], "wait_ms", UINT64_MAX, wait_ms, e)) return false;
      out.wait_ms =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(wait_ms, limits_.max_wait_ms));
      return true;
    }
    case Command::kCommit:
      return take_name(t[1], "group", out.group, e) && take_name(t[2], "topic", out.topic, e) &&
             take_number(t[3], "partition", kMaxInt32, out.partition, e) &&
             take_number(t[4], "offset", kMaxInt64, out.offset, e);
    case Command::kCommitted:
      return take_name(t[1], "group", out.group, e) && take_name(t[2], "topic", out.topic, e) &&
             take_number(t[3], "partition", kMaxInt32, out.partition, e);
    case Command::kCreate:
      if (!take_name(t[1], "topic", out.topic, e)) return false;
      if (!take_number(t[2], "partition count", static_cast<std::uint64_t>(limits_.max_partitions),
                       out.partitions, e) ||
          out.partitions == 0) {
        e = "bad partition count '" + echo(t[2]) + "' (1 to " +
            std::to_string(limits_.max_partitions) + ")";
        return false;
      }
      return true;
    case Command::kDescribe:
    case Command::kDelete:
      return take_name(t[1], "topic", out.topic, e);
    case Command::kStats:
      return n < 2 || take_name(t[1], "topic", out.topic, e);
    case Command::kTopics:
    case Command::kVersion:
    case Command::kPing:
    case Command::kQuit:
      return true;
  }
  return false;
}

}  // namespace ringlog::protocol
