// Durability::parse / to_string (ringlog/options.h).
#include <charconv>
#include <string>

#include <ringlog/options.h>

namespace ringlog {

Result<Durability> Durability::parse(std::string_view text) {
  if (text == "always") return Durability{Mode::kAlways, 0};
  if (text == "never") return Durability{Mode::kNever, 0};
  static constexpr std::string_view kPrefix = "interval=";
  if (text.starts_with(kPrefix)) {
    std::string_view digits = text.substr(kPrefix.size());
    std::uint32_t ms = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
    if (ec == std::errc() && ptr == digits.data() + digits.size() && ms >= 1 && ms <= 3'600'000)
      return Durability{Mode::kInterval, ms};
  }
  return fail(Errc::kInvalidArgument,
              "durability '" + std::string(text) +
                  "': expected 'always', 'interval=<ms>' (1..3600000) or 'never'");
}

std::string Durability::to_string() const {
  switch (mode) {
    case Mode::kAlways:
      return "always";
    case Mode::kNever:
      return "never";
    case Mode::kInterval:
      return "interval=" + std::to_string(interval_ms);
  }
  return "always";
}

}  // namespace ringlog
