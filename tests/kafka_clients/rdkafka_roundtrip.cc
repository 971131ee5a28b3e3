// rdkafka_roundtrip: librdkafka's idempotent producer and KafkaConsumer against a Kafka broker
// (here `ringlog serve --kafka-listen`), every message checked byte for byte (issue 8).
//
//   rdkafka_roundtrip --bootstrap HOST:PORT [--topic-prefix rt] [--messages 300]
//                     [--codecs none,lz4,zstd] [--timeout-s 60]
//
// For each codec, on topic PREFIX-CODEC with group PREFIX-CODEC-group:
//   1. A producer with acks=all, enable.idempotence=true and compression.codec=CODEC sends N
//      messages with keys (some null), values (binary, compressible) and headers (binary,
//      null-valued, a repeated name). Every delivery report must be a success with an offset;
//      per partition the offsets are contiguous and in the order the messages were produced.
//   2. A consumer in the group (auto.offset.reset=earliest, no auto commit) reads all N back:
//      each equal to the message delivered at that partition and offset (key, value, headers in
//      order), offsets contiguous. It commits synchronously, checks the committed offsets and
//      closes (leaving the group).
//   3. A second consumer in the same group reaches the end of every partition without
//      receiving a message: it resumed from the committed offsets.
// Exit status: 0 all good, 1 a check failed (each failure is printed), 2 usage or setup error.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string bootstrap;
  std::string prefix = "rt";
  int messages = 300;
  std::vector<std::string> codecs{"none", "lz4", "zstd"};
  int timeout_s = 60;
  int timeout_ms() const { return timeout_s * 1000; }
};

struct Header {
  std::string name;
  std::optional<std::string> value;  // nullopt: a null-valued header
};

struct Message {
  std::optional<std::string> key;  // nullopt: a null key
  std::string value;
  std::vector<Header> headers;
};

struct Position {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  bool operator<(const Position& o) const {
    return partition != o.partition ? partition < o.partition : offset < o.offset;
  }
};

int g_failures = 0;

void failure(const char* format, ...) __attribute__((format(printf, 1, 2)));
void failure(const char* format, ...) {
  if (++g_failures > 25) return;  // the first ones tell the story
  std::va_list args;
  va_start(args, format);
  std::fputs("rdkafka_roundtrip: FAILED: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
}

[[noreturn]] void setup_error(const std::string& what) {
  std::fprintf(stderr, "rdkafka_roundtrip: %s\n", what.c_str());
  std::exit(2);
}

// Message i: compressible values of varying length with binary bytes, every 11th key null,
// binary and null-valued headers, a header name repeated.
Message message_for(int i) {
  Message m;
  if (i % 11 != 0) m.key = "key-" + std::to_string(i) + std::string("\0\x01\xff", 3);
  m.value = std::string(static_cast<std::size_t>(64 + i % 190), static_cast<char>('a' + i % 26));
  m.value += static_cast<char>(i & 0xff);
  m.value += std::string("\0\xfe|", 3) + std::to_string(i);
  m.headers.push_back({"index", std::to_string(i)});
  m.headers.push_back({"binary", std::string("\0\x01\x80\xff", 4)});
  if (i % 3 == 0) m.headers.push_back({"null-valued", std::nullopt});
  if (i % 5 == 0) {
    m.headers.push_back({"repeated", "first"});
    m.headers.push_back({"repeated", "second"});
  }
  return m;
}

void on_error(rd_kafka_t* rk, int err, const char* reason, void*) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    failure("fatal client error: %s: %s", rd_kafka_err2name(cause), fatal);
    return;
  }
  std::fprintf(stderr, "rdkafka_roundtrip: note: %s: %s\n",
               rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
}

rd_kafka_conf_t* make_conf(const Options& o,
                           const std::vector<std::pair<std::string, std::string>>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  std::vector<std::pair<std::string, std::string>> all{{"bootstrap.servers", o.bootstrap}};
  all.insert(all.end(), settings.begin(), settings.end());
  for (const auto& [name, value] : all) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      setup_error(name + "=" + value + ": " + err);
  }
  rd_kafka_conf_set_error_cb(conf, on_error);
  return conf;
}

// ---- 1. produce ----------------------------------------------------------------------------

struct Delivery {
  bool reported = false;
  Position at;
};

struct ProduceState {
  std::vector<Delivery> deliveries;  // by message index
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto& state = *static_cast<ProduceState*>(opaque);
  const auto index = static_cast<std::size_t>(reinterpret_cast<std::intptr_t>(m->_private));
  if (index >= state.deliveries.size()) return failure("a delivery report for no message");
  Delivery& d = state.deliveries[index];
  if (d.reported) failure("message %zu was reported twice", index);
  d.reported = true;
  if (m->err) return failure("message %zu failed: %s", index, rd_kafka_err2str(m->err));
  if (m->offset < 0) failure("message %zu was acknowledged without an offset", index);
  d.at = Position{m->partition, m->offset};
}

rd_kafka_headers_t* headers_of(const Message& m) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
  for (const Header& h : m.headers) {
    rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                        h.value ? h.value->data() : nullptr,
                        h.value ? static_cast<ssize_t>(h.value->size()) : 0);
  }
  return headers;
}

void produce_one(rd_kafka_t* rk, const std::string& topic, const Message& m, std::size_t index) {
  rd_kafka_headers_t* headers = headers_of(m);
  // (librdkafka's RD_KAFKA_V_* macros do not parenthesise their arguments.)
  const void* key = m.key ? m.key->data() : nullptr;
  const std::size_t key_size = m.key ? m.key->size() : 0;
  void* value = const_cast<char*>(m.value.data());
  const std::size_t value_size = m.value.size();
  void* opaque = reinterpret_cast<void*>(static_cast<std::intptr_t>(index));
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key, key_size),
        RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // the headers belong to librdkafka now
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_headers_destroy(headers);
      return failure("producev of message %zu: %s", index, rd_kafka_err2str(err));
    }
    rd_kafka_poll(rk, 10);
  }
  rd_kafka_poll(rk, 0);
}

// Every report a success; per partition, offsets contiguous and in production order.
void check_deliveries(const ProduceState& state) {
  std::map<std::int32_t, std::vector<std::int64_t>> offsets;  // in production order
  for (std::size_t i = 0; i < state.deliveries.size(); ++i) {
    const Delivery& d = state.deliveries[i];
    if (!d.reported) failure("message %zu got no delivery report", i);
    if (d.at.offset >= 0) offsets[d.at.partition].push_back(d.at.offset);
  }
  for (const auto& [partition, list] : offsets) {
    for (std::size_t i = 1; i < list.size(); ++i) {
      if (list[i] != list[i - 1] + 1) {
        failure("partition %" PRId32 ": offset %" PRId64 " follows %" PRId64
                " (not contiguous in production order)",
                partition, list[i], list[i - 1]);
      }
    }
  }
}

ProduceState produce_all(const Options& o, const std::string& topic, const std::string& codec,
                         const std::vector<Message>& messages) {
  ProduceState state;
  state.deliveries.resize(messages.size());
  rd_kafka_conf_t* conf = make_conf(o, {{"acks", "all"},
                                        {"enable.idempotence", "true"},
                                        {"compression.codec", codec},
                                        {"linger.ms", "10"},
                                        {"message.timeout.ms", std::to_string(o.timeout_ms())}});
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &state);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) setup_error(std::string("producer: ") + err);
  for (std::size_t i = 0; i < messages.size(); ++i)
    produce_one(rk, topic, messages[i], i);
  if (rd_kafka_resp_err_t e = rd_kafka_flush(rk, o.timeout_ms()))
    failure("flush: %s (%d messages still queued)", rd_kafka_err2str(e), rd_kafka_outq_len(rk));
  rd_kafka_destroy(rk);
  check_deliveries(state);
  return state;
}

// ---- 2. consume, commit ----------------------------------------------------------------------

rd_kafka_t* subscribed_consumer(const Options& o, const std::string& group,
                                const std::string& topic, bool partition_eof) {
  rd_kafka_conf_t* conf = make_conf(o, {{"group.id", group},
                                        {"auto.offset.reset", "earliest"},
                                        {"enable.auto.commit", "false"},
                                        {"enable.partition.eof", partition_eof ? "true" : "false"},
                                        {"session.timeout.ms", "10000"},
                                        {"heartbeat.interval.ms", "500"}});
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) setup_error(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics))
    setup_error(std::string("subscribe: ") + rd_kafka_err2str(e));
  rd_kafka_topic_partition_list_destroy(topics);
  return rk;
}

bool same_bytes(const void* data, std::size_t size, const std::string& expected) {
  return size == expected.size() && (size == 0 || std::memcmp(data, expected.data(), size) == 0);
}

void check_headers(const rd_kafka_message_t* m, const Message& expected, std::size_t index) {
  rd_kafka_headers_t* headers = nullptr;
  const bool has = rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR;
  const std::size_t count = has ? rd_kafka_header_cnt(headers) : 0;
  if (count != expected.headers.size())
    return failure("message %zu: %zu headers, sent %zu", index, count, expected.headers.size());
  for (std::size_t h = 0; h < count; ++h) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    rd_kafka_header_get_all(headers, h, &name, &value, &size);
    const Header& want = expected.headers[h];
    const bool ok =
        name != nullptr && want.name == name &&
        (want.value ? value != nullptr && same_bytes(value, size, *want.value) : value == nullptr);
    if (!ok) failure("message %zu: header %zu (%s) differs", index, h, want.name.c_str());
  }
}

void check_message(const rd_kafka_message_t* m, const Message& expected, std::size_t index) {
  if (!expected.key && m->key != nullptr)
    failure("message %zu: a null key came back as %zu bytes", index, m->key_len);
  if (expected.key && (m->key == nullptr || !same_bytes(m->key, m->key_len, *expected.key)))
    failure("message %zu: the key differs", index);
  if (m->payload == nullptr || !same_bytes(m->payload, m->len, expected.value))
    failure("message %zu: the value differs (%zu bytes, sent %zu)", index, m->len,
            expected.value.size());
  check_headers(m, expected, index);
}

using NextOffsets = std::map<std::int32_t, std::int64_t>;  // partition -> next offset to read

// Reads every delivered message back, in offset order per partition; returns the offsets after
// the last message of each partition.
NextOffsets read_back(const Options& o, rd_kafka_t* rk, const std::vector<Message>& messages,
                      const ProduceState& produced) {
  std::map<Position, std::size_t> sent;
  NextOffsets next;
  for (std::size_t i = 0; i < produced.deliveries.size(); ++i) {
    const Position at = produced.deliveries[i].at;
    if (at.offset < 0) continue;  // a failed delivery, already reported
    sent[at] = i;
    if (!next.count(at.partition) || at.offset < next[at.partition]) next[at.partition] = at.offset;
  }
  std::size_t received = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (received < messages.size() && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure("consumer error: %s", rd_kafka_message_errstr(m));
    } else {
      const Position at{m->partition, m->offset};
      if (m->offset != next[m->partition])
        failure("partition %" PRId32 ": read offset %" PRId64 ", expected %" PRId64, at.partition,
                at.offset, next[m->partition]);
      next[m->partition] = m->offset + 1;
      auto it = sent.find(at);
      if (it == sent.end())
        failure("partition %" PRId32 " offset %" PRId64 ": not a message this run produced",
                at.partition, at.offset);
      else
        check_message(m, messages[it->second], it->second);
      ++received;
    }
    rd_kafka_message_destroy(m);
  }
  if (received != messages.size())
    failure("the consumer read %zu of %zu messages in %d s", received, messages.size(),
            o.timeout_s);
  return next;
}

// The group's committed offsets equal `expected`.
void check_committed(rd_kafka_t* rk, const std::string& topic, const NextOffsets& expected,
                     int timeout_ms) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(expected.size()));
  for (const auto& [partition, offset] : expected)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  const rd_kafka_resp_err_t err = rd_kafka_committed(rk, list, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) failure("committed offsets: %s", rd_kafka_err2str(err));
  for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    if (p.offset != expected.at(p.partition))
      failure("partition %" PRId32 ": committed offset %" PRId64 ", expected %" PRId64, p.partition,
              p.offset, expected.at(p.partition));
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void close_consumer(rd_kafka_t* rk) {
  if (rd_kafka_resp_err_t e = rd_kafka_consumer_close(rk))
    failure("consumer close: %s", rd_kafka_err2str(e));
  rd_kafka_destroy(rk);
}

// ---- 3. resume -------------------------------------------------------------------------------

int partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  int count = -1;
  if (rd_kafka_metadata(rk, 0, rkt, &metadata, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      count = metadata->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_topic_destroy(rkt);
  return count;
}

int assigned_count(rd_kafka_t* rk) {
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(rk, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  const int count = assignment->cnt;
  rd_kafka_topic_partition_list_destroy(assignment);
  return count;
}

// A new member of the group must start at the committed offsets: every partition at its end.
void check_resume(const Options& o, const std::string& group, const std::string& topic,
                  const NextOffsets& committed) {
  rd_kafka_t* rk = subscribed_consumer(o, group, topic, /*partition_eof=*/true);
  const int partitions = partition_count(rk, topic, o.timeout_ms());
  if (partitions <= 0) failure("no metadata for %s", topic.c_str());
  std::set<std::int32_t> at_end;
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (Clock::now() < deadline &&
         !(assigned_count(rk) == partitions && static_cast<int>(at_end.size()) == partitions)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(m->partition);
      // The end is where the first consumer stopped: the fetch started at the committed offset.
      auto it = committed.find(m->partition);
      if (it != committed.end() && m->offset != it->second)
        failure("second consumer: partition %" PRId32 " ends at %" PRId64 ", expected %" PRId64,
                m->partition, m->offset, it->second);
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
      failure("second consumer: %s", rd_kafka_message_errstr(m));
    else
      failure("second consumer re-read partition %" PRId32 " offset %" PRId64
              " (committed offsets not used)",
              m->partition, m->offset);
    rd_kafka_message_destroy(m);
  }
  if (static_cast<int>(at_end.size()) != partitions)
    failure("second consumer reached the end of %zu of %d partitions", at_end.size(), partitions);
  else
    check_committed(rk, topic, committed, o.timeout_ms());
  close_consumer(rk);
}

void round_trip(const Options& o, const std::string& codec) {
  const std::string topic = o.prefix + "-" + codec;
  const std::string group = topic + "-group";
  const int failures_before = g_failures;
  std::vector<Message> messages;
  for (int i = 0; i < o.messages; ++i)
    messages.push_back(message_for(i));

  ProduceState produced = produce_all(o, topic, codec, messages);
  rd_kafka_t* consumer = subscribed_consumer(o, group, topic, /*partition_eof=*/false);
  const NextOffsets next = read_back(o, consumer, messages, produced);
  if (rd_kafka_resp_err_t e = rd_kafka_commit(consumer, nullptr, /*async=*/0))
    failure("commit: %s", rd_kafka_err2str(e));
  check_committed(consumer, topic, next, o.timeout_ms());
  close_consumer(consumer);
  check_resume(o, group, topic, next);

  std::printf("rdkafka_roundtrip: %s: %d messages over %zu partition(s): %s\n", topic.c_str(),
              o.messages, next.size(),
              g_failures == failures_before ? "produced, read back, committed, resumed" : "FAILED");
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t at; (at = text.find(separator, start)) != std::string::npos; start = at + 1)
    parts.push_back(text.substr(start, at - start));
  parts.push_back(text.substr(start));
  return parts;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) setup_error("usage: missing value after " + a);
    const std::string value = argv[++i];
    if (a == "--bootstrap")
      o.bootstrap = value;
    else if (a == "--topic-prefix")
      o.prefix = value;
    else if (a == "--messages")
      o.messages = std::atoi(value.c_str());
    else if (a == "--codecs")
      o.codecs = split(value, ',');
    else if (a == "--timeout-s")
      o.timeout_s = std::atoi(value.c_str());
    else
      setup_error("usage: unknown option " + a);
  }
  if (o.bootstrap.empty() || o.messages <= 0 || o.timeout_s <= 0)
    setup_error(
        "usage: rdkafka_roundtrip --bootstrap HOST:PORT [--topic-prefix rt] [--messages 300] "
        "[--codecs none,lz4,zstd] [--timeout-s 60]");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  std::printf("rdkafka_roundtrip: librdkafka %s against %s\n", rd_kafka_version_str(),
              options.bootstrap.c_str());
  for (const std::string& codec : options.codecs)
    round_trip(options, codec);
  if (g_failures > 0) std::fprintf(stderr, "rdkafka_roundtrip: %d failure(s)\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
