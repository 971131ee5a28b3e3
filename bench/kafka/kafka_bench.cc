// ringlog_kafka_bench: produce and consume throughput through librdkafka against a Kafka broker
// (`ringlog serve --kafka-listen`): the Kafka-path counterpart of `ringlog bench --server`, run
// side by side with it by scripts/bench-kafka.
//
//   ringlog_kafka_bench produce|consume --bootstrap HOST:PORT [--topic bench] [-n 1000000]
//       [-s 100] [--acks all] [--batch-bytes 65536] [--linger-ms 1] [--in-flight 16]
//       [--fetch-bytes 1048576] [--timeout-s 300] [--compression none] [--json]
//
// produce: one producer sends N messages of S bytes (no key, no headers, --compression (none by
//   default), not idempotent; text-like contents) as fast as librdkafka allows: batches up to
//   --batch-bytes (batch.size), at most
//   --linger-ms for a partial batch, at most --in-flight requests per connection. Timed from the
//   first send to the last delivery report; every report must be a success.
// consume: one consumer, assigned every partition of the topic from the beginning (no group
//   membership), reads N messages (a catch-up read), fetches of at most --fetch-bytes. Timed from
//   the assignment to the N-th message.
// Prints one line, or with --json one object:
//   {"workload":"produce","messages":N,"message_bytes":S,"elapsed_s":E,"msgs_per_s":R,
//    "mb_per_s":M}
// MB = 10^6 bytes of message payload. Exit: 0 ok, 1 failed deliveries or a short read, 2 usage.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string workload;
  std::string bootstrap;
  std::string topic = "bench";
  long long messages = 1'000'000;
  long long message_bytes = 100;
  std::string acks = "all";
  long long batch_bytes = 64 << 10;
  long long linger_ms = 1;
  long long in_flight = 16;
  long long fetch_bytes = 1 << 20;
  int timeout_s = 300;
  std::string compression = "none";
  bool json = false;
};

struct Result {
  long long messages = 0;
  double elapsed_s = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "ringlog_kafka_bench: %s\nusage: ringlog_kafka_bench produce|consume --bootstrap "
               "HOST:PORT [--topic T] [-n N] [-s BYTES] [--acks all|1|0] [--batch-bytes B] "
               "[--linger-ms MS] [--in-flight N] [--fetch-bytes B] [--timeout-s S] "
               "[--compression none|gzip|snappy|lz4|zstd] [--json]\n",
               why.c_str());
  std::exit(2);
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "ringlog_kafka_bench: %s\n", why.c_str());
  std::exit(1);
}

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
    usage(name + "=" + value + ": " + err);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- produce ---------------------------------------------------------------------------------

struct Deliveries {
  long long ok = 0;
  long long failed = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto& d = *static_cast<Deliveries*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++d.ok;
    return;
  }
  if (d.failed++ == 0) d.first_error = m->err;
}

rd_kafka_t* new_producer(const Options& o, Deliveries& deliveries) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.bootstrap);
  set(conf, "acks", o.acks);
  set(conf, "enable.idempotence", "false");
  set(conf, "compression.codec", o.compression);
  set(conf, "batch.size", std::to_string(o.batch_bytes));
  set(conf, "linger.ms", std::to_string(o.linger_ms));
  set(conf, "max.in.flight.requests.per.connection", std::to_string(o.in_flight));
  set(conf, "queue.buffering.max.messages", "2000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  set(conf, "message.timeout.ms", std::to_string(o.timeout_s * 1000));
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &deliveries);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) fail(std::string("producer: ") + err);
  return rk;
}

Result produce(const Options& o) {
  Deliveries deliveries;
  rd_kafka_t* rk = new_producer(o, deliveries);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  // Messages are windows of one text-like buffer (varied content, so that compression has real
  // work: a few distinct letters and digits, as in logs), which librdkafka references (no
  // copy) until delivery.
  static std::string text;
  const auto size = static_cast<std::size_t>(o.message_bytes);
  text.resize(size + 4096);
  for (std::size_t i = 0; i < text.size(); ++i)
    text[i] = "abcdefghij 0123456789,"[(i * 7 + i / 13 + i / 101) % 22];
  const auto start = Clock::now();
  for (long long i = 0; i < o.messages;) {
    const char* payload = text.data() + static_cast<std::size_t>(i * 17) % 4096;
    if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, const_cast<char*>(payload), size, nullptr,
                         0, nullptr) == 0) {
      ++i;
      continue;
    }
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      fail(std::string("produce: ") + rd_kafka_err2str(err));
    rd_kafka_poll(rk, 1);  // serve delivery reports to make room
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, o.timeout_s * 1000);
  Result r{deliveries.ok, seconds_since(start)};
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) fail("flush timed out");
  if (deliveries.failed > 0)
    fail(std::to_string(deliveries.failed) + " deliveries failed, the first with " +
         rd_kafka_err2str(deliveries.first_error));
  return r;
}

// ---- consume ---------------------------------------------------------------------------------

rd_kafka_t* new_consumer(const Options& o) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.bootstrap);
  set(conf, "group.id", "ringlog-kafka-bench");  // required by assign(); never joined
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.auto.offset.store", "false");
  set(conf, "enable.partition.eof", "false");
  set(conf, "fetch.max.bytes", std::to_string(o.fetch_bytes));
  set(conf, "max.partition.fetch.bytes", std::to_string(o.fetch_bytes));
  set(conf, "receive.message.max.bytes",
      std::to_string(std::max(o.fetch_bytes + 512, 100'000'000LL)));
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) fail(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

// Every partition of the topic, each from its beginning.
rd_kafka_topic_partition_list_t* whole_topic(rd_kafka_t* rk, const Options& o) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(rk, 0, rkt, &metadata, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
    fail("no metadata for topic " + o.topic);
  const int partitions = metadata->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, o.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  return list;
}

Result consume(const Options& o) {
  rd_kafka_t* rk = new_consumer(o);
  rd_kafka_topic_partition_list_t* partitions = whole_topic(rk, o);
  const auto start = Clock::now();
  if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, partitions))
    fail(std::string("assign: ") + rd_kafka_err2str(e));
  rd_kafka_topic_partition_list_destroy(partitions);
  Result r;
  auto last_progress = Clock::now();
  while (r.messages < o.messages) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      if (seconds_since(last_progress) > o.timeout_s)
        fail("read " + std::to_string(r.messages) + " of " + std::to_string(o.messages));
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
      fail(std::string("consume: ") + rd_kafka_message_errstr(m));
    ++r.messages;
    last_progress = Clock::now();
    rd_kafka_message_destroy(m);
  }
  r.elapsed_s = seconds_since(start);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return r;
}

// ---- main ------------------------------------------------------------------------------------

long long number(const std::string& name, const char* text) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v < 0) usage(name + " needs a non-negative integer");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("no workload");
  o.workload = argv[1];
  if (o.workload != "produce" && o.workload != "consume") usage("unknown workload " + o.workload);
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--bootstrap")
      o.bootstrap = v;
    else if (a == "--topic")
      o.topic = v;
    else if (a == "-n" || a == "--messages")
      o.messages = number(a, v);
    else if (a == "-s" || a == "--message-size")
      o.message_bytes = number(a, v);
    else if (a == "--acks")
      o.acks = v;
    else if (a == "--batch-bytes")
      o.batch_bytes = number(a, v);
    else if (a == "--linger-ms")
      o.linger_ms = number(a, v);
    else if (a == "--in-flight")
      o.in_flight = number(a, v);
    else if (a == "--fetch-bytes")
      o.fetch_bytes = number(a, v);
    else if (a == "--timeout-s")
      o.timeout_s = static_cast<int>(number(a, v));
    else if (a == "--compression")
      o.compression = v;
    else
      usage("unknown option " + a);
  }
  if (o.bootstrap.empty()) usage("--bootstrap is required");
  if (o.messages == 0) usage("-n must be positive");
  return o;
}

void report(const Options& o, const Result& r) {
  const double rate = r.elapsed_s > 0 ? static_cast<double>(r.messages) / r.elapsed_s : 0;
  const double mb = rate * static_cast<double>(o.message_bytes) / 1e6;
  if (o.json) {
    std::printf(
        "{\"workload\":\"%s\",\"messages\":%lld,\"message_bytes\":%lld,"
        "\"elapsed_s\":%.6f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f}\n",
        o.workload.c_str(), r.messages, o.message_bytes, r.elapsed_s, rate, mb);
  } else {
    std::printf("%s: %lld messages of %lld B in %.3f s: %.0f msgs/s, %.1f MB/s\n",
                o.workload.c_str(), r.messages, o.message_bytes, r.elapsed_s, rate, mb);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  report(o, o.workload == "produce" ? produce(o) : consume(o));
  return 0;
}
