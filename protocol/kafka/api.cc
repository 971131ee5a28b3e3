#include "protocol/kafka/api.h"

#include <array>

namespace ringlog::kafka {
namespace {

constexpr std::array kApis{
    ApiRange{ApiKey::kProduce, 0, 7, 9, "Produce"},
    ApiRange{ApiKey::kFetch, 4, 11, 12, "Fetch"},
    ApiRange{ApiKey::kListOffsets, 0, 2, 6, "ListOffsets"},
    ApiRange{ApiKey::kMetadata, 0, 4, 9, "Metadata"},
    ApiRange{ApiKey::kOffsetCommit, 0, 7, 8, "OffsetCommit"},
    ApiRange{ApiKey::kOffsetFetch, 0, 5, 6, "OffsetFetch"},
    ApiRange{ApiKey::kFindCoordinator, 0, 2, 3, "FindCoordinator"},
    ApiRange{ApiKey::kJoinGroup, 0, 5, 6, "JoinGroup"},
    ApiRange{ApiKey::kHeartbeat, 0, 3, 4, "Heartbeat"},
    ApiRange{ApiKey::kLeaveGroup, 0, 1, 4, "LeaveGroup"},
    ApiRange{ApiKey::kSyncGroup, 0, 3, 4, "SyncGroup"},
    ApiRange{ApiKey::kApiVersions, 0, 3, 3, "ApiVersions"},
    ApiRange{ApiKey::kInitProducerId, 0, 1, 2, "InitProducerId"},
};

}  // namespace

std::span<const ApiRange> supported_apis() noexcept {
  return kApis;
}

const ApiRange* find_api(std::int16_t api_key) noexcept {
  for (const ApiRange& api : kApis) {
    if (static_cast<std::int16_t>(api.key) == api_key) return &api;
  }
  return nullptr;
}

bool is_supported(std::int16_t api_key, std::int16_t version) noexcept {
  const ApiRange* api = find_api(api_key);
  return api != nullptr && version >= api->min_version && version <= api->max_version;
}

bool is_flexible(std::int16_t api_key, std::int16_t version) noexcept {
  const ApiRange* api = find_api(api_key);
  return api != nullptr && version >= api->first_flexible;
}

std::int16_t error_code_for(const Error& error) noexcept {
  switch (error.code()) {
    case Errc::kNotFound:
      return error::kUnknownTopicOrPartition;
    case Errc::kOutOfRange:
      return error::kOffsetOutOfRange;
    case Errc::kTooLarge:
      return error::kMessageTooLarge;
    case Errc::kInvalidArgument:
      return error::kInvalidRequest;
    case Errc::kNoSpace:
    case Errc::kIo:
    case Errc::kCorruption:  // a damaged partition or segment
    case Errc::kDataLoss:    // acknowledged offsets whose files were lost
      return error::kKafkaStorageError;
    case Errc::kClosed:
      return error::kNotLeaderOrFollower;
    case Errc::kBusy:
    case Errc::kTimedOut:
      return error::kRequestTimedOut;
    case Errc::kLimitExceeded:
      return error::kPolicyViolation;
    default:
      return error::kUnknownServerError;
  }
}

std::int16_t produce_error_code_for(const Error& error) noexcept {
  if (error.code() == Errc::kLimitExceeded) return error::kUnknownTopicOrPartition;
  return error_code_for(error);
}

}  // namespace ringlog::kafka
