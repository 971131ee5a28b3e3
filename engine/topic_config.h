// The per-topic config file `<data>/<topic>/@topic` (docs/format.md): the partition count and
// the overrides given at creation, as "key=value" lines, written atomically. Its presence is
// what makes a topic exist: a directory without it is a creation that did not finish, or a topic
// whose config was lost; open moves such a directory into `@quarantine/`, never deletes it.
//
// Version 2 (written) ends with a `crc32c=<8 hex digits>` line over every byte before it, then
// `end`; version 1 (no checksum) is still read.
#pragma once

#include <string>

#include <ringlog/options.h>

#include "io/env.h"

namespace ringlog {

// The version 2 text of `config`.
std::string encode_topic_config(const TopicConfig& config);
// kCorruption (the message says why) when `text` is not a whole, sound config of version 1 or 2
// (a checksum mismatch, a cut file, a bad line or value); kUnsupported for a later version.
Result<TopicConfig> decode_topic_config(std::string_view text);

}  // namespace ringlog
