#include "engine/inflate.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/endian.h"

namespace ringlog {

namespace {

Error corrupt(Compression codec, std::string_view why) {
  return Error(Errc::kCorruption,
               compression_name(codec) + " records do not decompress: " + std::string(why));
}

// ---- gzip -----------------------------------------------------------------------------------

class GzipInflater final : public Inflater {
 public:
  GzipInflater(std::span<const std::byte> in, std::size_t max_bytes) : Inflater(max_bytes) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
  }
  ~GzipInflater() override {
    if (initialised_) inflateEnd(&z_);
  }

  Status init() {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) return fail(corrupt(Compression::kGzip, "zlib init"));
    initialised_ = true;
    return {};
  }

  Result<std::size_t> read(std::span<std::byte> out) override {
    while (!ended_) {
      z_.next_out = reinterpret_cast<Bytef*>(out.data());
      z_.avail_out = static_cast<uInt>(out.size());
      const uInt before_in = z_.avail_in;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      const std::size_t n = out.size() - z_.avail_out;
      if (rc == Z_STREAM_END) {
        on_member_end();
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return fail(corrupt(Compression::kGzip, z_.msg != nullptr ? z_.msg : "bad data"));
      } else if (n == 0 && (z_.avail_in == 0 || z_.avail_in == before_in)) {
        return fail(corrupt(Compression::kGzip, "the stream ends early"));
      }
      if (n > 0) {
        if (auto s = count(n); !s) return fail(s.error());
        return n;
      }
    }
    return 0;
  }

 private:
  // Like java.util.zip.GZIPInputStream: another member follows if the next bytes start one;
  // anything else after a member's trailer ends the stream.
  void on_member_end() {
    const bool another = z_.avail_in >= 2 && z_.next_in[0] == 0x1f && z_.next_in[1] == 0x8b;
    if (another && inflateReset(&z_) == Z_OK) return;
    ended_ = true;
  }

  z_stream z_{};
  bool initialised_ = false;
  bool ended_ = false;
};

// ---- zstd -----------------------------------------------------------------------------------

class ZstdInflater final : public Inflater {
 public:
  ZstdInflater(std::span<const std::byte> in, std::size_t max_bytes)
      : Inflater(max_bytes), in_{in.data(), in.size(), 0} {}
  ~ZstdInflater() override { ZSTD_freeDCtx(ctx_); }

  Status init() {
    ctx_ = ZSTD_createDCtx();
    if (ctx_ == nullptr) return fail(corrupt(Compression::kZstd, "no context"));
    const std::size_t r = ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, kZstdMaxWindowLog);
    if (ZSTD_isError(r)) return fail(corrupt(Compression::kZstd, ZSTD_getErrorName(r)));
    return {};
  }

  Result<std::size_t> read(std::span<std::byte> out) override {
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    while (true) {
      if (in_.pos == in_.size) {
        if (frame_done_) return 0;
        return fail(corrupt(Compression::kZstd, "the stream ends early"));
      }
      const std::size_t r = ZSTD_decompressStream(ctx_, &o, &in_);
      if (ZSTD_isError(r)) return fail(corrupt(Compression::kZstd, ZSTD_getErrorName(r)));
      frame_done_ = r == 0;
      if (o.pos > 0) {
        if (auto s = count(o.pos); !s) return fail(s.error());
        return o.pos;
      }
    }
  }

 private:
  ZSTD_DCtx* ctx_ = nullptr;
  ZSTD_inBuffer in_;
  bool frame_done_ = false;
};

// ---- lz4 ------------------------------------------------------------------------------------

class Lz4Inflater final : public Inflater {
 public:
  Lz4Inflater(std::span<const std::byte> in, std::size_t max_bytes)
      : Inflater(max_bytes), in_(in) {}
  ~Lz4Inflater() override { LZ4F_freeDecompressionContext(ctx_); }

  Status init() {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx_, LZ4F_VERSION)))
      return fail(corrupt(Compression::kLz4, "no context"));
    return {};
  }

  Result<std::size_t> read(std::span<std::byte> out) override {
    while (true) {
      if (in_.empty()) {
        if (frame_done_) return 0;
        return fail(corrupt(Compression::kLz4, "the stream ends early"));
      }
      std::size_t produced = out.size();
      std::size_t consumed = in_.size();
      const std::size_t r =
          LZ4F_decompress(ctx_, out.data(), &produced, in_.data(), &consumed, nullptr);
      if (LZ4F_isError(r)) return fail(corrupt(Compression::kLz4, LZ4F_getErrorName(r)));
      in_ = in_.subspan(consumed);
      frame_done_ = r == 0;
      if (produced > 0) {
        if (auto s = count(produced); !s) return fail(s.error());
        return produced;
      }
      if (consumed == 0) return fail(corrupt(Compression::kLz4, "no progress"));
    }
  }

 private:
  LZ4F_dctx* ctx_ = nullptr;
  std::span<const std::byte> in_;
  bool frame_done_ = false;
};

// ---- snappy ---------------------------------------------------------------------------------

constexpr unsigned char kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeaderBytes = 16;  // magic, int32 version, int32 compatible version

bool is_xerial(std::span<const std::byte> in) {
  return in.size() >= kXerialHeaderBytes && std::memcmp(in.data(), kXerialMagic, 8) == 0;
}

class SnappyInflater final : public Inflater {
 public:
  SnappyInflater(std::span<const std::byte> in, std::size_t max_bytes)
      : Inflater(max_bytes), in_(in) {
    framed_ = is_xerial(in_);
    if (framed_) in_ = in_.subspan(kXerialHeaderBytes);
  }

  Result<std::size_t> read(std::span<std::byte> out) override {
    while (at_ == block_.size()) {
      if (in_.empty() && (framed_ || raw_done_)) return 0;
      if (auto s = next_block(); !s) return fail(s.error());
    }
    const std::size_t n = std::min(out.size(), block_.size() - at_);
    std::memcpy(out.data(), block_.data() + at_, n);
    at_ += n;
    if (auto s = count(n); !s) return fail(s.error());
    return n;
  }

 private:
  // Uncompresses the next xerial block (or the one raw block) into block_.
  Status next_block() {
    std::span<const std::byte> block = in_;
    if (framed_) {
      if (in_.size() < 4) return fail(corrupt(Compression::kSnappy, "a cut block header"));
      const auto length = load_be<std::uint32_t>(in_.data());
      if (length > in_.size() - 4) return fail(corrupt(Compression::kSnappy, "a cut block"));
      block = in_.subspan(4, length);
      in_ = in_.subspan(4 + length);
    } else {
      in_ = {};
      raw_done_ = true;
    }
    const char* data = reinterpret_cast<const char*>(block.data());
    std::size_t length = 0;
    if (!snappy::GetUncompressedLength(data, block.size(), &length))
      return fail(corrupt(Compression::kSnappy, "a bad block length"));
    if (length > remaining_bytes())
      return fail(Errc::kTooLarge, "compressed records inflate to more than " +
                                       std::to_string(max_bytes()) + " bytes");
    block_.resize(length);
    if (!snappy::RawUncompress(data, block.size(), reinterpret_cast<char*>(block_.data())))
      return fail(corrupt(Compression::kSnappy, "a bad block"));
    at_ = 0;
    return {};
  }

  std::span<const std::byte> in_;
  bool framed_ = false;
  bool raw_done_ = false;
  std::vector<std::byte> block_;
  std::size_t at_ = 0;
};

template <typename T>
Result<std::unique_ptr<Inflater>> started(std::unique_ptr<T> inflater) {
  if (auto s = inflater->init(); !s) return fail(s.error());
  return std::unique_ptr<Inflater>(std::move(inflater));
}

}  // namespace

Status Inflater::count(std::size_t n) {
  produced_ += n;
  if (produced_ > max_bytes_)
    return fail(Errc::kTooLarge,
                "compressed records inflate to more than " + std::to_string(max_bytes_) + " bytes");
  return {};
}

Result<std::unique_ptr<Inflater>> make_inflater(Compression codec,
                                                std::span<const std::byte> compressed,
                                                std::size_t max_bytes) {
  switch (codec) {
    case Compression::kGzip:
      return started(std::make_unique<GzipInflater>(compressed, max_bytes));
    case Compression::kZstd:
      return started(std::make_unique<ZstdInflater>(compressed, max_bytes));
    case Compression::kLz4:
      return started(std::make_unique<Lz4Inflater>(compressed, max_bytes));
    case Compression::kSnappy:
      return std::unique_ptr<Inflater>(std::make_unique<SnappyInflater>(compressed, max_bytes));
    case Compression::kNone:
      break;
  }
  return fail(Errc::kInvalidArgument, "no inflater for " + compression_name(codec));
}

std::string compression_name(Compression codec) {
  switch (codec) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "codec " + std::to_string(static_cast<int>(codec));
}

}  // namespace ringlog
