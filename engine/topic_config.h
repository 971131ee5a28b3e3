// The per-topic config file `<data>/<topic>/@topic` (docs/format.md): the partition count and
// the overrides given at creation, as "key=value" lines, written atomically. Its presence is
// what makes a topic exist: a directory without it is a creation that did not finish.
#pragma once

#include <string>

#include <ringlog/options.h>

#include "io/env.h"

namespace ringlog {

std::string encode_topic_config(const TopicConfig& config);
Result<TopicConfig> decode_topic_config(std::string_view text);

}  // namespace ringlog
