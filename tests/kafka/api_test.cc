#include <doctest/doctest.h>

#include "protocol/kafka/api.h"

namespace ringlog::kafka {
namespace {

TEST_CASE("kafka api: a full disk is KAFKA_STORAGE_ERROR, a creation limit POLICY_VIOLATION") {
  const Error no_space(Errc::kNoSpace, "disk space low");
  const Error limit(Errc::kLimitExceeded, "creating topic 'x' would exceed the limit");
  CHECK(error_code_for(no_space) == error::kKafkaStorageError);
  CHECK(produce_error_code_for(no_space) == error::kKafkaStorageError);
  CHECK(error_code_for(limit) == error::kPolicyViolation);
  // Produce to a topic the limit kept from being created: as for any unknown topic.
  CHECK(produce_error_code_for(limit) == error::kUnknownTopicOrPartition);
}

}  // namespace
}  // namespace ringlog::kafka
