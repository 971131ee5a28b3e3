// kcat (librdkafka 2.0.2) against the real `ringlog serve` binary, started as a subprocess on
// free loopback ports with a fresh data directory (issue 8). Skipped when kcat is not installed.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

#include "kafka_clients_support.h"

namespace ringlog::kafka_clients::test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE_FIXTURE(ServerFixture, "kcat: -L lists the one broker at its address and the topics") {
  if (!kcat_installed()) return;
  REQUIRE(shell(ringlog("topics create meta --partitions 3" + server_flag())).exit_code == 0);
  ShellResult listing = shell(kcat("-L 2>&1"));
  CAPTURE(listing.out);
  CHECK(listing.exit_code == 0);
  CHECK(contains(listing.out, " 1 brokers:"));
  CHECK(contains(listing.out, " at " + server->bootstrap()));
  CHECK(contains(listing.out, "topic \"meta\" with 3 partitions:"));
}

// Five messages with keys and awkward bytes in the values (tabs, UTF-8, bytes >= 0x80, the key
// delimiter again, printf-like sequences); one per line, "key:value".
std::string keyed_input(const std::string& tag) {
  return "k-" + tag + "-1:plain value\n" + "k-" + tag + "-2:tab\there, two  spaces, %s %k\n" +
         "k-" + tag + "-3:h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93\n" + "k-" + tag +
         "-4:bytes \x01\x02\x7f\x80\xfe\xff end\n" + "k-" + tag + "-5:colon:inside:value\n";
}

// What `kcat -C -f '%k|%s|%h|%o\n'` prints for keyed_input(tag) at `first_offset`.
std::string keyed_output(const std::string& tag, const std::string& headers, int first_offset) {
  std::string out;
  int offset = first_offset;
  for (const std::string& line : lines_of(keyed_input(tag))) {
    const auto colon = line.find(':');
    out += line.substr(0, colon) + "|" + line.substr(colon + 1) + "|" + headers + "|" +
           std::to_string(offset++) + "\n";
  }
  return out;
}

TEST_CASE_FIXTURE(ServerFixture,
                  "kcat: produce with acks all, 1 and 0 reads back values, keys and headers "
                  "byte for byte") {
  if (!kcat_installed()) return;
  std::string expected;
  int offset = 0;
  for (const std::string acks : {"all", "1", "0"}) {
    CAPTURE(acks);
    write_file(work / ("in-" + acks), keyed_input(acks));
    ShellResult produced =
        shell(kcat("-P -t kv -K: -H run=acks-" + acks + " -H 'h2=two words' -X acks=" + acks +
                   " < " + (work / ("in-" + acks)) + " 2>&1"));
    CHECK(produced.exit_code == 0);
    CHECK(produced.out == "");
    expected += keyed_output(acks, "run=acks-" + acks + ",h2=two words", offset);
    offset += 5;
  }
  // acks=0 is not acknowledged: wait until the server has appended it before reading.
  REQUIRE(wait_for_high_watermark("kv", 0, offset));
  ShellResult consumed = shell(kcat("-C -t kv -o beginning -e -q -f '%k|%s|%h|%o\\n' 2>&1"));
  CHECK(consumed.exit_code == 0);
  CHECK(consumed.out == expected);
}

TEST_CASE_FIXTURE(ServerFixture,
                  "kcat: an idempotent producer's batches are stored with their producer id and "
                  "sequences") {
  if (!kcat_installed()) return;
  ShellResult produced =
      shell("seq 1 500 | " + kcat("-P -t idem -X enable.idempotence=true -X linger.ms=20 2>&1"));
  CHECK(produced.exit_code == 0);
  CHECK(produced.out == "");
  ShellResult consumed = shell(kcat("-C -t idem -o beginning -e -q 2>&1"));
  CHECK(consumed.exit_code == 0);
  CHECK(consumed.out == shell("seq 1 500").out);

  // Sequences count records from 0 per producer and partition, without a gap or a duplicate.
  std::vector<BatchSummary> batches = dump_batches("idem", 0);
  REQUIRE(!batches.empty());
  int next_sequence = 0;
  for (const BatchSummary& b : batches) {
    CHECK(b.crc_ok);
    CHECK(b.producer_id >= 0);
    CHECK(b.producer_id == batches.front().producer_id);
    CHECK(b.base_sequence == next_sequence);
    next_sequence += b.record_count;
  }
  CHECK(next_sequence == 500);
}

TEST_CASE_FIXTURE(ServerFixture,
                  "kcat: gzip, snappy, lz4 and zstd batches are validated, stored with their codec "
                  "and served unchanged") {
  if (!kcat_installed()) return;
  // librdkafka sends a batch uncompressed when compression does not make it smaller.
  std::string input;
  for (int i = 0; i < 50; ++i)
    input += std::string(200, 'z') + "-" + std::to_string(i) + "\n";
  write_file(work / "compressible", input);
  const std::map<std::string, int> codecs{{"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}};
  for (const auto& [codec, attribute] : codecs) {
    CAPTURE(codec);
    const std::string topic = "z-" + codec;
    ShellResult produced = shell(kcat("-P -t " + topic + " -z " + codec + " -X linger.ms=50 < " +
                                      (work / "compressible") + " 2>&1"));
    CHECK(produced.exit_code == 0);
    CHECK(produced.out == "");
    int records = 0;
    for (const BatchSummary& b : dump_batches(topic, 0)) {
      CHECK(b.crc_ok);
      CHECK((b.attributes & 7) == attribute);
      records += b.record_count;
    }
    CHECK(records == 50);
    ShellResult consumed = shell(kcat("-C -t " + topic + " -o beginning -e -q 2>&1"));
    CHECK(consumed.exit_code == 0);
    CHECK(consumed.out == input);
  }
}

TEST_CASE_FIXTURE(ServerFixture,
                  "kcat: reads what `ringlog produce` wrote and `ringlog consume` reads what "
                  "kcat wrote") {
  if (!kcat_installed()) return;
  const std::string lines = "one\ntwo words\nthree \xe2\x9c\x93\n";
  write_file(work / "lines", lines);
  REQUIRE(
      shell(ringlog("produce from-line" + server_flag() + " < " + (work / "lines"))).exit_code ==
      0);
  ShellResult read_by_kcat = shell(kcat("-C -t from-line -o beginning -e -q 2>&1"));
  CHECK(read_by_kcat.exit_code == 0);
  CHECK(read_by_kcat.out == lines);

  write_file(work / "keyed", "k1=v1\nk2=v2 v2\n");
  REQUIRE(shell(ringlog("produce from-line-keyed --key-separator =" + server_flag() + " < " +
                        (work / "keyed")))
              .exit_code == 0);
  ShellResult keyed = shell(kcat("-C -t from-line-keyed -o beginning -e -q -f '%k=%s\\n' 2>&1"));
  CHECK(keyed.exit_code == 0);
  CHECK(keyed.out == "k1=v1\nk2=v2 v2\n");

  write_file(work / "for-kafka", "ka:a1\nkb:b2 b2\n");
  REQUIRE(shell(kcat("-P -t from-kafka -K: < " + (work / "for-kafka") + " 2>&1")).exit_code == 0);
  ShellResult read_by_ringlog = shell(ringlog("consume from-kafka" + server_flag()));
  CHECK(read_by_ringlog.exit_code == 0);
  CHECK(read_by_ringlog.out == "a1\nb2 b2\n");
  ShellResult as_json = shell(ringlog("consume from-kafka --format json" + server_flag()));
  CHECK(as_json.exit_code == 0);
  CHECK(contains(as_json.out, "\"key\":\"ka\""));
  CHECK(contains(as_json.out, "\"key\":\"kb\""));
}

// A `kcat -G` group member running in the background, printing "PARTITION OFFSET VALUE" lines.
class GroupMember {
 public:
  GroupMember(const ServerFixture& f, const std::string& name, const std::string& group,
              const std::string& topic)
      : out_(f.work / (name + ".out")), err_(f.work / (name + ".err")) {
    // No -o: kcat would apply it to every assignment and ignore the committed offsets. -E: stay
    // up while the broker restarts. -u: unbuffered output, read while it runs.
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"kcat", "-b", f.server->bootstrap(), "-G", group, "-E", "-u", "-X",
                                 "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100",
                                 "-X", "heartbeat.interval.ms=300", "-X", "session.timeout.ms=6000",
                                 "-f", "%p %o %s\\n", topic},
        ChildOptions{.out_path = out_, .err_path = err_});
  }
  // The partitions of the member's current assignment, from kcat's rebalance messages printed
  // after the first `since` bytes of its stderr (none if it printed no assignment since).
  std::set<int> assignment(std::size_t since = 0) const {
    std::set<int> partitions;
    const std::string all = read_file(err_);
    const std::string log = all.size() > since ? all.substr(since) : "";
    const auto assigned = log.rfind("assigned: ");
    const auto revoked = log.rfind("revoked: ");
    if (assigned == std::string::npos || (revoked != std::string::npos && revoked > assigned))
      return partitions;
    const std::string line = log.substr(assigned, log.find('\n', assigned) - assigned);
    for (int p = 0; p < 8; ++p)
      if (contains(line, " [" + std::to_string(p) + "]")) partitions.insert(p);
    return partitions;
  }
  std::vector<std::string> received() const { return lines_of(read_file(out_)); }
  bool running() { return !child_->exited(); }
  int stop() { return child_->stop(); }
  std::string stderr_text() const { return read_file(err_); }
  std::size_t stderr_size() const { return read_file(err_).size(); }

 private:
  std::string out_;
  std::string err_;
  std::unique_ptr<Child> child_;
};

std::string produce_lines(const std::string& prefix, int count) {
  std::string out;
  for (int i = 0; i < count; ++i)
    out += prefix + std::to_string(i) + "\n";
  return out;
}

// Two kcat members, a and b, of the group "sharers" on the two-partition topic "shared".
class GroupFixture : public ServerFixture {
 public:
  void start_members() {
    REQUIRE(shell(ringlog("topics create shared --partitions 2" + server_flag())).exit_code == 0);
    a = std::make_unique<GroupMember>(*this, "a", "sharers", "shared");
    b = std::make_unique<GroupMember>(*this, "b", "sharers", "shared");
  }
  std::string logs() const { return "a:\n" + a->stderr_text() + "\nb:\n" + b->stderr_text(); }
  // Waits until, in what they printed after the given sizes of their stderr, each member was
  // assigned one partition and not the other's.
  bool split(std::size_t since_a = 0, std::size_t since_b = 0) const {
    return wait_until(std::chrono::seconds(40), [&] {
      auto pa = a->assignment(since_a);
      auto pb = b->assignment(since_b);
      return pa.size() == 1 && pb.size() == 1 && pa != pb;
    });
  }
  // Ten messages "p<P>-<round>-<i>" to each partition.
  void produce_round(const std::string& round) const {
    for (int p = 0; p < 2; ++p) {
      write_file(work / "round", produce_lines("p" + std::to_string(p) + "-" + round + "-", 10));
      REQUIRE(
          shell(kcat("-P -t shared -p " + std::to_string(p) + " < " + (work / "round") + " 2>&1"))
              .exit_code == 0);
    }
  }
  // Waits until the group has committed `end` on both partitions and the members printed at
  // least as many messages.
  bool settled(std::int64_t end) const {
    return wait_until(std::chrono::seconds(60), [&] {
      auto rows = offsets("shared", "sharers");
      return rows.size() == 2 && rows[0].committed == end && rows[1].committed == end &&
             a->received().size() + b->received().size() >= static_cast<std::size_t>(2 * end);
    });
  }
  // partition -> offset -> value of what both members printed; CHECKs nothing came twice.
  std::map<int, std::map<int, std::string>> read_once() const {
    std::map<int, std::map<int, std::string>> seen;
    std::vector<std::string> all = a->received();
    for (const std::string& line : b->received())
      all.push_back(line);
    for (const std::string& line : all) {
      std::istringstream fields(line);
      int partition = -1, offset = -1;
      std::string value;
      fields >> partition >> offset >> value;
      CAPTURE(line);
      CHECK(seen[partition].count(offset) == 0);
      seen[partition][offset] = value;
    }
    return seen;
  }

  std::unique_ptr<GroupMember> a;
  std::unique_ptr<GroupMember> b;
};

TEST_CASE_FIXTURE(GroupFixture,
                  "kcat: a two-member group shares two partitions and resumes from its committed "
                  "offsets after a server restart") {
  if (!kcat_installed()) return;
  start_members();
  REQUIRE_MESSAGE(split(), "the members never held one partition each:\n" << logs());

  // Before the restart: 10 messages per partition, each read by the member that holds it.
  produce_round("before");
  REQUIRE_MESSAGE(settled(10), "the group did not read and commit 10 per partition:\n" << logs());
  const auto held_by_a = a->assignment();
  REQUIRE(held_by_a.size() == 1);
  const std::string prefix_a = std::to_string(*held_by_a.begin()) + " ";
  for (const std::string& line : a->received())
    CHECK(line.substr(0, 2) == prefix_a);
  for (const std::string& line : b->received())
    CHECK(line.substr(0, 2) != prefix_a);

  // Restart the server on the same data directory and ports. The members stay up and rejoin
  // (membership is not kept over a restart); once they share the partitions again they must
  // resume at the committed offsets: nothing read twice, nothing missed. (Messages that arrive
  // while they rejoin may be read by the old owner and, its commit refused as from an unknown
  // member, read again by the new one, as Kafka allows: so they are produced only after.)
  const std::size_t since_a = a->stderr_size();
  const std::size_t since_b = b->stderr_size();
  CHECK(server->stop() == 0);
  server->start();
  REQUIRE_MESSAGE(split(since_a, since_b), "the members did not rejoin after the restart:\n"
                                               << logs() << "\nserver:\n"
                                               << server->log());
  produce_round("after");
  REQUIRE_MESSAGE(settled(20), "the group did not resume after the restart:\n"
                                   << logs() << "\nserver:\n"
                                   << server->log());
  CHECK(a->running());
  CHECK(b->running());
  CHECK(a->stop() == 0);
  CHECK(b->stop() == 0);

  const std::string member_logs = logs();
  INFO("members:\n", member_logs);
  auto seen = read_once();
  for (int p = 0; p < 2; ++p) {
    REQUIRE(seen[p].size() == 20);
    for (int o = 0; o < 20; ++o) {
      const std::string round = o < 10 ? "before" : "after";
      CHECK(seen[p][o] == "p" + std::to_string(p) + "-" + round + "-" + std::to_string(o % 10));
    }
  }
}

}  // namespace
}  // namespace ringlog::kafka_clients::test
