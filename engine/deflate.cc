#include "engine/deflate.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/endian.h"
#include "engine/inflate.h"

namespace ringlog {

namespace {

Error cannot(Compression codec, std::string_view why) {
  return Error(Errc::kInternal,
               "cannot " + compression_name(codec) + " records: " + std::string(why));
}

Result<std::vector<std::byte>> gzip(std::span<const std::byte> data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail(cannot(Compression::kGzip, "zlib init"));
  std::vector<std::byte> out(deflateBound(&z, static_cast<uLong>(data.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return fail(cannot(Compression::kGzip, "deflate"));
  return out;
}

void append_raw_snappy(std::vector<std::byte>& out, std::span<const std::byte> data) {
  std::string block;
  snappy::Compress(reinterpret_cast<const char*>(data.data()), data.size(), &block);
  const auto* p = reinterpret_cast<const std::byte*>(block.data());
  out.insert(out.end(), p, p + block.size());
}

std::vector<std::byte> snappy_records(std::span<const std::byte> data, SnappyFraming framing) {
  std::vector<std::byte> out;
  if (framing == SnappyFraming::kRaw) {
    append_raw_snappy(out, data);
    return out;
  }
  static constexpr unsigned char kHeader[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                                0,    0,   0,   1,   0,   0,   0,   1};
  const auto* header = reinterpret_cast<const std::byte*>(kHeader);
  out.insert(out.end(), header, header + sizeof kHeader);
  constexpr std::size_t kBlockBytes = 32 << 10;  // snappy-java's default
  for (std::size_t at = 0; at < data.size(); at += kBlockBytes) {
    const std::size_t length_at = out.size();
    out.resize(length_at + 4);
    append_raw_snappy(out, data.subspan(at, std::min(kBlockBytes, data.size() - at)));
    store_be<std::uint32_t>(out.data() + length_at,
                            static_cast<std::uint32_t>(out.size() - length_at - 4));
  }
  return out;
}

Result<std::vector<std::byte>> lz4(std::span<const std::byte> data) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  std::vector<std::byte> out(LZ4F_compressFrameBound(data.size(), &prefs));
  const std::size_t n =
      LZ4F_compressFrame(out.data(), out.size(), data.data(), data.size(), &prefs);
  if (LZ4F_isError(n)) return fail(cannot(Compression::kLz4, LZ4F_getErrorName(n)));
  out.resize(n);
  return out;
}

Result<std::vector<std::byte>> zstd(std::span<const std::byte> data) {
  std::vector<std::byte> out(ZSTD_compressBound(data.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  if (ZSTD_isError(n)) return fail(cannot(Compression::kZstd, ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

}  // namespace

Result<std::vector<std::byte>> deflate_records(Compression codec, std::span<const std::byte> data,
                                               SnappyFraming framing) {
  switch (codec) {
    case Compression::kGzip:
      return gzip(data);
    case Compression::kSnappy:
      return snappy_records(data, framing);
    case Compression::kLz4:
      return lz4(data);
    case Compression::kZstd:
      return zstd(data);
    case Compression::kNone:
      break;
  }
  return fail(Errc::kInvalidArgument, "no deflater for " + compression_name(codec));
}

Result<std::vector<std::byte>> compress_batch(std::span<const std::byte> batch, Compression codec,
                                              SnappyFraming framing) {
  const BatchView view(batch);
  auto records = deflate_records(codec, view.record_bytes(), framing);
  if (!records) return fail(records.error());
  std::vector<std::byte> out(batch.begin(), batch.begin() + kRecordsAt);
  out.insert(out.end(), records->begin(), records->end());
  const auto attributes = static_cast<std::int16_t>((view.attributes() & ~kCompressionMask) |
                                                    static_cast<std::int16_t>(codec));
  store_be(out.data() + kAttributesAt, attributes);
  store_be(out.data() + kBatchLengthAt,
           static_cast<std::int32_t>(out.size() - kBatchLengthFieldEnd));
  store_be(out.data() + kCrcAt, BatchView(out).compute_crc());
  return out;
}

}  // namespace ringlog
