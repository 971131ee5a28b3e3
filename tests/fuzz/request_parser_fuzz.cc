// Fuzz target: the line-protocol request parser (protocol/request.h).
//
// Two modes, chosen by the first byte:
//   raw        - (first byte even) arbitrary bytes, parsed twice: fed whole, and fed in pieces
//   split at points
//                drawn from the input. Both runs must produce the same outcomes (splitting a
//                stream never changes what it means), and at every step the parser buffers no
//                more than a line plus a body plus a terminator.
//   structured - (first byte odd) a session of well-formed put/putb/get/ping requests with random
//   case,
//                whitespace and terminators, split at random points: every request must come
//                out kReady, in order, with exactly the declared body.
// Every ready request is checked: names valid, bodies within their limits, wait_ms capped.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/request.h"

namespace {

using ringlog::protocol::Command;
using ringlog::protocol::ParseOutcome;
using ringlog::protocol::ParserLimits;
using ringlog::protocol::Request;
using ringlog::protocol::RequestParser;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "request_parser invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)      \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

ParserLimits small_limits() {
  ParserLimits limits;
  limits.max_line_bytes = 256;
  limits.max_message_bytes = 1024;
  limits.max_batch_bytes = 2048;
  limits.max_skip_bytes = 8192;
  limits.max_wait_ms = 5000;
  limits.max_partitions = 1000;
  limits.initial_buffer_bytes = 64;  // small, so growth and shrinking are exercised
  return limits;
}

// The documented memory bound: one line plus one body plus its terminator.
std::size_t buffer_bound(const ParserLimits& l) {
  const std::size_t body = std::max(l.max_message_bytes, l.max_batch_bytes);
  return std::max({l.initial_buffer_bytes, l.max_line_bytes, l.max_line_bytes + body + 2});
}

// Independent statements of the naming rules: topics [A-Za-z0-9._-]{1,249}, not "." or "..";
// group ids 1..249 bytes of printable ASCII without spaces.
bool valid_group_id(std::string_view id) {
  if (id.empty() || id.size() > 249) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool has_topic(Command c) {
  switch (c) {
    case Command::kTopics:
    case Command::kVersion:
    case Command::kPing:
    case Command::kQuit:
    case Command::kStats:
      return false;
    default:
      return true;
  }
}

void check_ready(const Request& r, const ParserLimits& l) {
  if (has_topic(r.command)) FUZZ_CHECK(valid_name(r.topic));
  if (r.command == Command::kStats && !r.topic.empty()) FUZZ_CHECK(valid_name(r.topic));
  if (r.command == Command::kCommit || r.command == Command::kCommitted) {
    FUZZ_CHECK(valid_group_id(r.group));
  }
  if (r.command == Command::kPut) FUZZ_CHECK(r.body.size() <= l.max_message_bytes);
  if (r.command == Command::kPutb) FUZZ_CHECK(r.body.size() <= l.max_batch_bytes);
  if (r.command != Command::kPut && r.command != Command::kPutb) FUZZ_CHECK(r.body.empty());
  FUZZ_CHECK(r.wait_ms <= l.max_wait_ms);
  FUZZ_CHECK(r.partition >= 0);
  FUZZ_CHECK(r.offset >= 0);
  if (r.command == Command::kCreate)
    FUZZ_CHECK(r.partitions >= 1 && r.partitions <= l.max_partitions);
}

// One outcome, serialised so that two runs can be compared.
std::string describe(ParseOutcome outcome, const Request& r, const RequestParser& parser) {
  std::string s(ringlog::protocol::parse_outcome_name(outcome));
  if (outcome == ParseOutcome::kReady) {
    s += ' ';
    s += ringlog::protocol::command_name(r.command);
    s += '|';
    s.append(r.topic);
    s += '|';
    s.append(r.group);
    s += '|' + std::to_string(r.partition) + '|' + std::to_string(r.offset) + '|' +
         std::to_string(r.max_bytes) + '|' + std::to_string(r.wait_ms) + '|' +
         std::to_string(r.partitions) + '|' + (r.has_key ? "k:" : "-:");
    s.append(r.key);
    s += '|';
    s.append(reinterpret_cast<const char*>(r.body.data()), r.body.size());
  } else if (outcome != ParseOutcome::kNeedMore) {
    s += ' ' + std::to_string(static_cast<int>(parser.error().code));
  }
  return s;
}

// Feeds `stream` in pieces of the sizes `next_piece` returns and records every outcome.
template <typename NextPiece>
std::vector<std::string> run(std::string_view stream, NextPiece next_piece) {
  const ParserLimits limits = small_limits();
  const std::size_t bound = buffer_bound(limits);
  RequestParser parser(limits);
  std::vector<std::string> trace;
  std::size_t pos = 0;
  bool lost = false;
  while (!lost) {
    std::size_t piece = std::min(next_piece(), stream.size() - pos);
    std::size_t taken = parser.feed(stream.substr(pos, piece));
    FUZZ_CHECK(taken <= piece);
    pos += taken;
    FUZZ_CHECK(parser.buffered_bytes() <= bound);
    FUZZ_CHECK(parser.capacity_bytes() <= bound);
    for (;;) {
      Request r;
      ParseOutcome outcome = parser.next(r);
      if (outcome == ParseOutcome::kNeedMore) break;
      if (outcome == ParseOutcome::kReady) check_ready(r, limits);
      trace.push_back(describe(outcome, r, parser));
      if (outcome == ParseOutcome::kFramingLost) {
        lost = true;
        // Sticky: the parser keeps saying so and takes no more bytes.
        Request again;
        FUZZ_CHECK(parser.next(again) == ParseOutcome::kFramingLost);
        FUZZ_CHECK(parser.feed(std::string_view("ping\r\n")) == 0);
        break;
      }
    }
    // A full buffer with nothing to parse is a stuck parser.
    if (!lost && taken == 0 && piece > 0) fail("parser took no bytes and yielded nothing");
    if (pos == stream.size()) break;
  }
  return trace;
}

void fuzz_raw(FuzzedDataProvider& fdp) {
  // The split points come from the stream itself, so a corpus file is just "0" + a session.
  const std::string stream = fdp.ConsumeRemainingBytesAsString();
  const std::uint64_t split_seed = std::hash<std::string>{}(stream);
  auto whole = run(stream, [] { return std::size_t{1} << 30; });
  std::mt19937_64 rng(split_seed);
  auto split = run(stream, [&] {
    std::size_t r = rng() % 64;
    return r < 8 ? r + 1 : (r < 60 ? r * 3 : 700);
  });
  if (whole != split) fail("outcomes depend on how the stream was split");
}

// One well-formed request and the outcome it must produce.
struct Expected {
  std::string bytes;
  std::string trace;
};

std::string mixed_case(FuzzedDataProvider& fdp, std::string word) {
  for (char& c : word) {
    if (fdp.ConsumeBool()) c = static_cast<char>(c - 'a' + 'A');
  }
  return word;
}

Expected make_request(FuzzedDataProvider& fdp) {
  const char* names[] = {"t", "orders", "a.b-c_d", "X9"};
  std::string topic = names[fdp.ConsumeIntegralInRange<int>(0, 3)];
  const std::int32_t partition = fdp.ConsumeIntegralInRange<std::int32_t>(0, 1 << 30);
  const std::string sep = fdp.ConsumeBool() ? " " : (fdp.ConsumeBool() ? "\t" : "  ");
  const std::string eol = fdp.ConsumeBool() ? "\r\n" : "\n";
  const int kind = fdp.ConsumeIntegralInRange<int>(0, 3);
  Expected e;
  if (kind <= 1) {  // put / putb with a body of any bytes
    const bool batch = kind == 1;
    std::string body = fdp.ConsumeRandomLengthString(batch ? 2048 : 1024);
    std::string word = mixed_case(fdp, batch ? "putb" : "put");
    e.bytes = word + sep + topic + sep + std::to_string(partition) + sep +
              std::to_string(body.size()) + eol + body + eol;
    e.trace = std::string("ready ") + (batch ? "putb|" : "put|") + topic + "||" +
              std::to_string(partition) + "|0|65536|0|0|-:|" + body;
  } else if (kind == 2) {
    const std::int64_t offset = fdp.ConsumeIntegralInRange<std::int64_t>(0, INT64_MAX);
    e.bytes = mixed_case(fdp, "get") + sep + topic + sep + std::to_string(partition) + sep +
              std::to_string(offset) + eol;
    e.trace = "ready get|" + topic + "||" + std::to_string(partition) + "|" +
              std::to_string(offset) + "|65536|0|0|-:|";
  } else {
    e.bytes = mixed_case(fdp, "ping") + eol;
    e.trace = "ready ping|||0|0|65536|0|0|-:|";
  }
  return e;
}

void fuzz_structured(FuzzedDataProvider& fdp) {
  std::string stream;
  std::vector<std::string> expected;
  while (fdp.remaining_bytes() > 0 && expected.size() < 64) {
    Expected e = make_request(fdp);
    stream += e.bytes;
    expected.push_back(e.trace);
  }
  std::mt19937_64 rng(stream.size());
  auto trace = run(stream, [&] { return static_cast<std::size_t>(rng() % 97 + 1); });
  if (trace != expected) {
    std::fprintf(stderr, "got %zu outcomes, expected %zu\n", trace.size(), expected.size());
    for (std::size_t i = 0; i < std::min(trace.size(), expected.size()); ++i) {
      if (trace[i] != expected[i]) {
        std::fprintf(stderr, "first difference at %zu:\n got  %.200s\n want %.200s\n", i,
                     trace[i].c_str(), expected[i].c_str());
        break;
      }
    }
    fail("a well-formed session did not parse to its requests");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  FuzzedDataProvider fdp(data + 1, size - 1);
  if (data[0] & 1) {
    fuzz_structured(fdp);
  } else {
    fuzz_raw(fdp);
  }
  return 0;
}
