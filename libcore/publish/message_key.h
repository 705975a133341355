// MessageKey: where a message stands in the input, (offset, rank, copy), and the Nats-Msg-Id
// made from it: "<commit_lsn X/X>:<op>:<rank>" for a record's canonical copy, ":<copy>" appended
// for the others. Deterministic across restarts of pgsync-stream, so JetStream's duplicate window
// drops what a restart resends, and ordered, so pgsync-publish skips what the stream holds.
#pragma once

#include "changelog/log_offset.h"

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync::publish {

struct MessageKey {
    serve::LogOffset offset;
    uint32_t rank = 0;
    uint32_t copy = 0;

    auto operator<=>(const MessageKey&) const = default;
    std::string message_id() const;
    static std::optional<MessageKey> parse(std::string_view message_id);
};

} // namespace pgsync::publish
