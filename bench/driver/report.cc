// Formatting of a BenchReport: text for people, JSON for scripts, CSV for plots.
#include <cmath>
#include <cstdio>
#include <string>

#include "bench/driver/driver.h"

namespace ringlog::bench {
namespace {

std::string printf_string(const char* format, auto... args) {
  char buffer[512];
  const int n = std::snprintf(buffer, sizeof buffer, format, args...);
  return std::string(buffer, static_cast<std::size_t>(std::max(n, 0)) < sizeof buffer
                                 ? static_cast<std::size_t>(std::max(n, 0))
                                 : sizeof buffer - 1);
}

// 1234567 -> "1,234,567"
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Nanoseconds as "812 ns", "12.3 us", "1.25 ms", "2.10 s" (three significant digits).
std::string duration(std::uint64_t ns) {
  const double v = static_cast<double>(ns);
  if (ns < 1000) return printf_string("%llu ns", static_cast<unsigned long long>(ns));
  if (v < 1e6) return printf_string(v < 1e4 ? "%.2f us" : v < 1e5 ? "%.1f us" : "%.0f us", v / 1e3);
  if (v < 1e9) return printf_string(v < 1e7 ? "%.2f ms" : v < 1e8 ? "%.1f ms" : "%.0f ms", v / 1e6);
  return printf_string("%.2f s", v / 1e9);
}

std::string bytes_text(double bytes) {
  if (bytes < 1024) return printf_string("%.0f B", bytes);
  if (bytes < 1024.0 * 1024) return printf_string("%.1f KiB", bytes / 1024);
  if (bytes < 1024.0 * 1024 * 1024) return printf_string("%.1f MiB", bytes / 1024 / 1024);
  return printf_string("%.2f GiB", bytes / 1024 / 1024 / 1024);
}

std::string latency_line(const char* label, const Histogram& h) {
  return printf_string(
      "  %-12s p50 %s  p99 %s  p99.9 %s  max %s  (mean %s, %s messages)\n", label,
      duration(h.value_at_percentile(50)).c_str(), duration(h.value_at_percentile(99)).c_str(),
      duration(h.value_at_percentile(99.9)).c_str(), duration(h.max()).c_str(),
      duration(static_cast<std::uint64_t>(h.mean())).c_str(), grouped(h.count()).c_str());
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += printf_string("\\u%04x", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return printf_string("%.6g", v);
}

// [[percentile, microseconds], ...] for a latency distribution plot.
std::string json_percentiles(const Histogram& h) {
  std::string out = "[";
  for (double p :
       {0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0}) {
    if (out.size() > 1) out += ',';
    out += printf_string("[%g,%.3f]", p,
                         static_cast<double>(p == 0 ? h.min() : h.value_at_percentile(p)) / 1e3);
  }
  return out + "]";
}

// {"count":..,"p50_us":..,...}: microseconds with ns precision.
std::string json_latency(const Histogram& h) {
  auto us = [](std::uint64_t ns) { return printf_string("%.3f", static_cast<double>(ns) / 1e3); };
  return "{\"count\":" + std::to_string(h.count()) +
         ",\"p50_us\":" + us(h.value_at_percentile(50)) +
         ",\"p90_us\":" + us(h.value_at_percentile(90)) +
         ",\"p99_us\":" + us(h.value_at_percentile(99)) +
         ",\"p999_us\":" + us(h.value_at_percentile(99.9)) + ",\"max_us\":" + us(h.max()) +
         ",\"mean_us\":" + printf_string("%.3f", h.mean() / 1e3) +
         ",\"percentiles\":" + json_percentiles(h) + "}";
}

std::string options_line(const BenchOptions& o) {
  std::string line =
      printf_string("  %zu B messages, %u producer(s), %u consumer(s), %d partition(s)",
                    o.message_bytes, o.workload == Workload::kConsume ? 0 : o.producers,
                    o.workload == Workload::kProduce ? 0 : o.consumers, o.partitions);
  if (o.workload != Workload::kConsume) {
    line += printf_string(", batch %s, linger %u us, %zu in flight",
                          bytes_text(static_cast<double>(o.batch_bytes)).c_str(), o.linger_us,
                          o.in_flight);
  } else {
    line += printf_string(", fetch %s", bytes_text(o.fetch_bytes).c_str());
  }
  if (o.rate > 0) line += printf_string(", rate %.0f msgs/s", o.rate);
  return line + "\n";
}

}  // namespace

std::string format_text(const BenchReport& r) {
  const BenchOptions& o = r.options;
  std::string out = printf_string("ringlog bench %s: %s, durability %s\n",
                                  std::string(workload_name(o.workload)).c_str(), r.target.c_str(),
                                  r.durability.c_str());
  out += options_line(o);
  if (r.filled > 0) out += "  (filled the topic with " + grouped(r.filled) + " messages first)\n";
  if (o.workload != Workload::kConsume) {
    out += printf_string("  %-12s %s msgs in %.3f s: %s msgs/s, %.1f MB/s\n", "produced",
                         grouped(r.produced).c_str(), r.elapsed_s,
                         grouped(static_cast<std::uint64_t>(r.produce_msgs_per_s())).c_str(),
                         r.produce_mb_per_s());
    out += latency_line("ack latency", r.ack_latency);
  }
  if (o.workload != Workload::kProduce) {
    out += printf_string("  %-12s %s msgs in %.3f s: %s msgs/s, %.1f MB/s\n", "consumed",
                         grouped(r.consumed).c_str(), r.elapsed_s,
                         grouped(static_cast<std::uint64_t>(r.consume_msgs_per_s())).c_str(),
                         r.consume_mb_per_s());
  }
  if (o.workload == Workload::kE2e) out += latency_line("e2e latency", r.e2e_latency);
  if (r.log_bytes && o.workload != Workload::kConsume) {
    out +=
        printf_string("  %-12s %s appended (%.1f MB/s)", "log",
                      bytes_text(static_cast<double>(*r.log_bytes)).c_str(),
                      r.elapsed_s > 0 ? static_cast<double>(*r.log_bytes) / r.elapsed_s / 1e6 : 0);
    if (r.syncs) {
      out += printf_string(", %s fdatasyncs", grouped(*r.syncs).c_str());
      if (*r.syncs > 0) out += " (" + bytes_text(r.mean_sync_bytes()) + " per sync)";
    }
    if (r.write_cycles) out += ", " + grouped(*r.write_cycles) + " write cycles";
    if (r.writes && *r.writes > 0) out += " (" + bytes_text(r.mean_write_bytes()) + " per write)";
    out += "\n";
  }
  out += printf_string("  %-12s user %.2f s, system %.2f s (%.2f cores)\n", "cpu", r.cpu_user_s,
                       r.cpu_system_s,
                       r.elapsed_s > 0 ? (r.cpu_user_s + r.cpu_system_s) / r.elapsed_s : 0);
  if (r.errors > 0) out += "  errors       " + grouped(r.errors) + "\n";
  return out;
}

std::string format_json(const BenchReport& r) {
  const BenchOptions& o = r.options;
  std::string out = "{";
  auto field = [&](std::string_view name, const std::string& value) {
    if (out.size() > 1) out += ',';
    out += json_string(name) + ":" + value;
  };
  field("workload", json_string(workload_name(o.workload)));
  field("target", json_string(r.target));
  field("durability", json_string(r.durability));
  field("message_bytes", std::to_string(o.message_bytes));
  field("producers", std::to_string(o.workload == Workload::kConsume ? 0 : o.producers));
  field("consumers", std::to_string(o.workload == Workload::kProduce ? 0 : o.consumers));
  field("partitions", std::to_string(o.partitions));
  field("batch_bytes", std::to_string(o.batch_bytes));
  field("linger_us", std::to_string(o.linger_us));
  field("in_flight", std::to_string(o.in_flight));
  field("rate", json_number(o.rate));
  field("elapsed_s", json_number(r.elapsed_s));
  field("produced", std::to_string(r.produced));
  field("produce_msgs_per_s", json_number(r.produce_msgs_per_s()));
  field("produce_mb_per_s", json_number(r.produce_mb_per_s()));
  field("consumed", std::to_string(r.consumed));
  field("consume_msgs_per_s", json_number(r.consume_msgs_per_s()));
  field("consume_mb_per_s", json_number(r.consume_mb_per_s()));
  field("filled", std::to_string(r.filled));
  field("ack_latency", json_latency(r.ack_latency));
  field("e2e_latency", json_latency(r.e2e_latency));
  field("log_bytes", r.log_bytes ? std::to_string(*r.log_bytes) : "null");
  field("log_mb_per_s", r.log_bytes && r.elapsed_s > 0
                            ? json_number(static_cast<double>(*r.log_bytes) / r.elapsed_s / 1e6)
                            : "null");
  field("syncs", r.syncs ? std::to_string(*r.syncs) : "null");
  field("write_cycles", r.write_cycles ? std::to_string(*r.write_cycles) : "null");
  field("writes", r.writes ? std::to_string(*r.writes) : "null");
  field("mean_write_bytes", json_number(r.mean_write_bytes()));
  field("sync_at_end", o.sync_at_end ? "true" : "false");
  field("mean_sync_bytes", json_number(r.mean_sync_bytes()));
  field("cpu_user_s", json_number(r.cpu_user_s));
  field("cpu_system_s", json_number(r.cpu_system_s));
  field("errors", std::to_string(r.errors));
  return out + "}\n";
}

std::string csv_header() {
  return "elapsed_s,produced,consumed,produce_msgs_per_s,produce_mb_per_s,consume_msgs_per_s,"
         "consume_mb_per_s,latency_p50_us,latency_p99_us,latency_max_us\n";
}

std::string csv_row(const Sample& s) {
  return printf_string("%.3f,%llu,%llu,%.0f,%.3f,%.0f,%.3f,%.3f,%.3f,%.3f\n", s.elapsed_s,
                       static_cast<unsigned long long>(s.produced),
                       static_cast<unsigned long long>(s.consumed), s.produce_msgs_per_s,
                       s.produce_mb_per_s, s.consume_msgs_per_s, s.consume_mb_per_s,
                       static_cast<double>(s.p50_ns) / 1e3, static_cast<double>(s.p99_ns) / 1e3,
                       static_cast<double>(s.max_ns) / 1e3);
}

}  // namespace ringlog::bench
