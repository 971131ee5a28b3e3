// Kafka API keys, the versions ringlog advertises, where flexible encodings begin, and the error
// codes it answers with (apache/kafka@3.8.0 clients/.../protocol/Errors.java).
//
// The advertised ranges are those of /work/shared/ref/kafka-compat.md §6: every range starts low
// enough for librdkafka 2.0.2's single-version feature probes (Produce 3, Fetch 4,
// FindCoordinator 0, InitProducerId 0) and stops below each API's first flexible version, except
// ApiVersions 3 whose small flexible body is implemented. Produce starts at 0 although only
// magic-2 batches are stored (v0-2 requests parse; their magic 0/1 message sets get
// UNSUPPORTED_FOR_MESSAGE_FORMAT): librdkafka 2.0.2 compresses with gzip, snappy or lz4 only if
// the broker's Produce range includes v0 (rd_kafka_msgset_writer_select_MsgVersion checks
// Produce [0, 0] for them, [0, 7] for zstd), and sends those batches uncompressed otherwise.
// Kafka 4.0 keeps advertising Produce 0-2 for the same reason.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <ringlog/error.h>

namespace ringlog::kafka {

enum class ApiKey : std::int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kApiVersions = 18,
  kInitProducerId = 22,
};

struct ApiRange {
  ApiKey key;
  std::int16_t min_version;
  std::int16_t max_version;
  std::int16_t first_flexible;  // 3.8.0 flexibleVersions
  std::string_view name;
};

// The APIs ringlog serves, in the order ApiVersions lists them.
std::span<const ApiRange> supported_apis() noexcept;
// nullptr if the key is not served.
const ApiRange* find_api(std::int16_t api_key) noexcept;
bool is_supported(std::int16_t api_key, std::int16_t version) noexcept;
// Does this request use request header v2 / response header v1? (ApiVersions responses are the
// exception: always header v0.) Unknown keys: false.
bool is_flexible(std::int16_t api_key, std::int16_t version) noexcept;

// Kafka error codes used by ringlog.
namespace error {
inline constexpr std::int16_t kUnknownServerError = -1;
inline constexpr std::int16_t kNone = 0;
inline constexpr std::int16_t kOffsetOutOfRange = 1;
inline constexpr std::int16_t kCorruptMessage = 2;
inline constexpr std::int16_t kUnknownTopicOrPartition = 3;
inline constexpr std::int16_t kInvalidFetchSize = 4;
inline constexpr std::int16_t kLeaderNotAvailable = 5;
inline constexpr std::int16_t kNotLeaderOrFollower = 6;
inline constexpr std::int16_t kRequestTimedOut = 7;
inline constexpr std::int16_t kMessageTooLarge = 10;
inline constexpr std::int16_t kOffsetMetadataTooLarge = 12;
inline constexpr std::int16_t kCoordinatorLoadInProgress = 14;
inline constexpr std::int16_t kCoordinatorNotAvailable = 15;
inline constexpr std::int16_t kNotCoordinator = 16;
inline constexpr std::int16_t kInvalidTopicException = 17;
inline constexpr std::int16_t kRecordListTooLarge = 18;
inline constexpr std::int16_t kInvalidRequiredAcks = 21;
inline constexpr std::int16_t kIllegalGeneration = 22;
inline constexpr std::int16_t kInconsistentGroupProtocol = 23;
inline constexpr std::int16_t kInvalidGroupId = 24;
inline constexpr std::int16_t kUnknownMemberId = 25;
inline constexpr std::int16_t kInvalidSessionTimeout = 26;
inline constexpr std::int16_t kRebalanceInProgress = 27;
inline constexpr std::int16_t kUnsupportedForMessageFormat = 43;
inline constexpr std::int16_t kUnsupportedVersion = 35;
inline constexpr std::int16_t kInvalidRequest = 42;
inline constexpr std::int16_t kOutOfOrderSequenceNumber = 45;
inline constexpr std::int16_t kDuplicateSequenceNumber = 46;
inline constexpr std::int16_t kInvalidProducerEpoch = 47;
inline constexpr std::int16_t kPolicyViolation = 44;
inline constexpr std::int16_t kKafkaStorageError = 56;
inline constexpr std::int16_t kGroupIdNotFound = 69;
inline constexpr std::int16_t kInvalidRecord = 87;
}  // namespace error

// Engine errors as Kafka partition-level codes (kNotFound -> 3, kOutOfRange -> 1, kTooLarge ->
// 10, kNoSpace/kIo/kCorruption (a damaged partition) -> 56, kInvalidArgument -> 42, kClosed ->
// 6, kLimitExceeded (a topic creation beyond --max-topics / --max-partitions) -> 44
// POLICY_VIOLATION, ...). Batches that fail validation are mapped by the Produce handler itself
// (CORRUPT_MESSAGE 2, INVALID_RECORD 87, MESSAGE_TOO_LARGE 10).
std::int16_t error_code_for(const Error& error) noexcept;
// The same for a Produce partition: an append whose auto-creation the limits refused is
// UNKNOWN_TOPIC_OR_PARTITION (3), as for any topic that does not exist; the Metadata request
// that would have created it is where POLICY_VIOLATION is answered (docs/kafka.md).
std::int16_t produce_error_code_for(const Error& error) noexcept;

}  // namespace ringlog::kafka
