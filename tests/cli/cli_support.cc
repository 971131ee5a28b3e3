#include "cli/cli_support.h"

#include <stdexcept>

namespace ringlog::cli::test {

namespace {

std::vector<std::string> serve_args(const std::string& data_dir,
                                    const std::vector<std::string>& extra_args) {
  std::vector<std::string> args{"--data", data_dir, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return args;
}

}  // namespace

RunResult run_ringlog(const std::string& cwd, const std::vector<std::string>& args,
                      const std::string& input) {
  std::vector<std::string> argv{ringlog_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_command(argv, cwd, input, std::chrono::seconds(60));
}

ServerProcess::ServerProcess(const std::string& cwd, const std::string& data_dir,
                             const std::vector<std::string>& extra_args)
    : ServeProcess({.args = serve_args(data_dir, extra_args),
                    .cwd = cwd,
                    .out_path = cwd + "/serve.out",
                    .err_path = cwd + "/serve.log"}) {}

namespace {

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  Json parse_document() {
    Json v = value();
    space();
    if (at_ != s_.size()) error("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    throw std::runtime_error("JSON: " + what + " at " + std::to_string(at_) + " in: " + s_);
  }
  void space() {
    while (at_ < s_.size() &&
           (s_[at_] == ' ' || s_[at_] == '\n' || s_[at_] == '\t' || s_[at_] == '\r'))
      ++at_;
  }
  bool literal(const char* word) {
    std::string w(word);
    if (s_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }
  Json value() {
    space();
    if (at_ >= s_.size()) error("unexpected end");
    Json v;
    char c = s_[at_];
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') {
      v.type = Json::Type::kString;
      v.string = string();
    } else if (literal("null")) {
      v.type = Json::Type::kNull;
    } else if (literal("true") || literal("false")) {
      v.type = Json::Type::kBool;
      v.boolean = s_[at_ - 1] == 'e' && s_[at_ - 2] == 'u';
    } else {
      std::size_t used = 0;
      try {
        v.number = std::stod(s_.substr(at_), &used);
      } catch (...) {
        error("bad value");
      }
      if (used == 0) error("bad number");
      at_ += used;
      v.type = Json::Type::kNumber;
    }
    return v;
  }
  std::string string() {
    ++at_;  // "
    std::string out;
    while (at_ < s_.size() && s_[at_] != '"') {
      char c = s_[at_++];
      if (static_cast<unsigned char>(c) < 0x20) error("raw control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= s_.size()) error("bad escape");
      char e = s_[at_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case '/':
          out += '/';
          break;
        case '\\':
          out += '\\';
          break;
        case '"':
          out += '"';
          break;
        case 'u': {
          if (at_ + 4 > s_.size()) error("bad \\u escape");
          unsigned code = static_cast<unsigned>(std::stoul(s_.substr(at_, 4), nullptr, 16));
          at_ += 4;
          if (code >= 0x80) error("test parser handles \\u escapes below 0x80 only");
          out += static_cast<char>(code);
          break;
        }
        default:
          error("bad escape");
      }
    }
    if (at_ >= s_.size()) error("unterminated string");
    ++at_;
    return out;
  }
  Json array() {
    Json v;
    v.type = Json::Type::kArray;
    ++at_;
    space();
    if (at_ < s_.size() && s_[at_] == ']') {
      ++at_;
      return v;
    }
    for (;;) {
      v.array.push_back(value());
      space();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < s_.size() && s_[at_] == ']') {
        ++at_;
        return v;
      }
      error("expected , or ]");
    }
  }
  Json object() {
    Json v;
    v.type = Json::Type::kObject;
    ++at_;
    space();
    if (at_ < s_.size() && s_[at_] == '}') {
      ++at_;
      return v;
    }
    for (;;) {
      space();
      if (at_ >= s_.size() || s_[at_] != '"') error("expected a key");
      std::string key = string();
      space();
      if (at_ >= s_.size() || s_[at_] != ':') error("expected :");
      ++at_;
      if (v.object.count(key)) error("duplicate key " + key);
      v.object[key] = value();
      space();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < s_.size() && s_[at_] == '}') {
        ++at_;
        return v;
      }
      error("expected , or }");
    }
  }

  const std::string& s_;
  std::size_t at_ = 0;
};

}  // namespace

Json parse_json(const std::string& text) {
  return JsonParser(text).parse_document();
}

}  // namespace ringlog::cli::test
