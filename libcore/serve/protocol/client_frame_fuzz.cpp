// libFuzzer target for client frames of pgsync-serve: arbitrary bytes as a text frame on /v1/ws
// or /v1/stream, then the subscription filter built from it (allow-list, a token's mandatory
// filter ANDed as a tree, binding). A crash, an exception or an error without a code is a bug.
#include "serve/access/subscription_filter.h"
#include "serve/protocol/client_frame.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace pgsync;
using namespace pgsync::serve;

namespace {

const TableSchema& table() {
    static const TableSchema schema = [] {
        TableSchema t;
        t.schema = "public";
        t.name = "messages";
        t.columns = {{"message_id", 20, true},           {"group_name", 25, false},
                     {"sender_name", 1043, false},       {"message_text", 25, false},
                     {"message_timestamp", 1184, false}, {"likes", 23, false}};
        return t;
    }();
    return schema;
}

const config::Table& configured() {
    static const config::Table t = [] {
        config::Table c;
        c.name = config::Value<std::string>("public.messages");
        config::LiveQuery q;
        q.conditions.push_back(
            {config::Value<std::string>("group_name"), config::Value<std::string>("=")});
        q.conditions.push_back(
            {config::Value<std::string>("message_timestamp"), config::Value<std::string>(">")});
        c.live_queries.push_back(q);
        return c;
    }();
    return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool raw = data[0] & 1;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    ClientFrame frame = parse_client_frame(text, raw);
    if (auto* error = std::get_if<FrameError>(&frame)) {
        if (error->code.empty() || error->message.empty()) std::abort();
        return 0;
    }
    auto* subscribe = std::get_if<SubscribeRequest>(&frame);
    if (!subscribe) return 0;
    if (raw) std::abort(); // /v1/stream accepts only acks
    if (!subscribe->channel.empty()) {
        // A channel subscription carries nothing but its name and an offset.
        if (subscribe->channel.size() > kMaxChannelName || subscribe->where ||
            !subscribe->columns.empty() || !subscribe->params.empty() || subscribe->limit ||
            subscribe->order_by)
            std::abort();
        return 0;
    }
    TableGrant grant{"public", "messages", "group_name = $1 AND likes >= $2", {"party", "0"}};
    const bool with_grant = data[0] & 2;
    const bool with_config = data[0] & 4;
    FilterResult result = subscription_filter(*subscribe, table(), with_grant ? &grant : nullptr,
                                              with_config ? &configured() : nullptr);
    if (!result.ok() && result.error_message.empty()) std::abort();
    // With a grant, the filter can never be missing: the mandatory part is always there.
    if (result.ok() && with_grant && !result.filter) std::abort();
    return 0;
}
