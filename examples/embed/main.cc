// Embeds ringlog: opens a data directory, creates a topic, appends a batch of records, fetches
// them back and prints them.  Usage: embed_example [data-dir]
#include <cstdio>
#include <string>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

int main(int argc, char** argv) {
  ringlog::EngineOptions options;
  options.data_dir = argc > 1 ? argv[1] : "embed-data";
  options.segment_bytes = 1 << 20;
  auto engine = ringlog::Engine::open(options);
  if (!engine) {
    std::fprintf(stderr, "open: %s\n", engine.error().to_string().c_str());
    return 1;
  }
  ringlog::TopicConfig config;
  config.partitions = 1;
  if (auto created = (*engine)->create_topic("greetings", config);
      !created && created.error().code() != ringlog::Errc::kAlreadyExists) {
    std::fprintf(stderr, "create_topic: %s\n", created.error().to_string().c_str());
    return 1;
  }

  ringlog::BatchBuilder builder;
  builder.add("en", "hello");
  builder.add("fr", "bonjour");
  builder.add("de", "hallo");
  auto bytes = builder.finish();
  auto acked = (*engine)->append("greetings", 0, {bytes.begin(), bytes.end()});
  if (!acked) {
    std::fprintf(stderr, "append: %s\n", acked.error().to_string().c_str());
    return 1;
  }
  std::printf("appended offsets %lld..%lld (durable: acknowledged after fdatasync)\n",
              static_cast<long long>(acked->first_offset),
              static_cast<long long>(acked->last_offset));

  auto fetched = (*engine)->read("greetings", 0, acked->first_offset, 1 << 20);
  if (!fetched) {
    std::fprintf(stderr, "read: %s\n", fetched.error().to_string().c_str());
    return 1;
  }
  ringlog::BatchReader reader(*fetched);
  for (auto parsed = reader.next(); parsed.ok(); parsed = reader.next()) {
    for (const ringlog::RecordView& record : parsed.batch.records()) {
      if (record.offset < acked->first_offset) continue;
      std::printf("offset %lld: %.*s = %.*s\n", static_cast<long long>(record.offset),
                  static_cast<int>(record.key->size()),
                  reinterpret_cast<const char*>(record.key->data()),
                  static_cast<int>(record.value->size()),
                  reinterpret_cast<const char*>(record.value->data()));
    }
  }
  auto range = (*engine)->offsets("greetings", 0);
  std::printf("log start %lld, high watermark %lld\n", static_cast<long long>(range->first),
              static_cast<long long>(range->second));
  if (auto closed = (*engine)->close(); !closed) {
    std::fprintf(stderr, "close: %s\n", closed.error().to_string().c_str());
    return 1;
  }
  return 0;
}
