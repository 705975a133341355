// Parsing client frames with nlohmann/json (its exceptions never escape: parse without throwing,
// and check every type before reading).
#include "serve/protocol/client_frame.h"

#include "filter/where_parser.h"

#include <nlohmann/json.hpp>

namespace pgsync::serve {

namespace {

using json = nlohmann::json;

FrameError error(std::string id, std::string code, std::string message) {
    return FrameError{std::move(id), std::move(code), std::move(message)};
}

std::optional<std::string> param_text(const json& value) {
    if (value.is_null()) return std::nullopt;
    if (value.is_string()) return value.get<std::string>();
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
    return value.dump(); // numbers as their JSON text
}

// The frame's "id": a string of 1 to kMaxSubscriptionId characters.
std::optional<std::string> frame_id(const json& frame) {
    auto it = frame.find("id");
    if (it == frame.end() || !it->is_string()) return std::nullopt;
    const auto& id = it->get_ref<const std::string&>();
    if (id.empty() || id.size() > kMaxSubscriptionId) return std::nullopt;
    return id;
}

// {"type":"subscribe","id":…,"channel":…[,"offset":…]}: everything else the channel defines.
ClientFrame parse_channel_subscribe(const json& frame, const std::string& id) {
    const json& channel = frame["channel"];
    if (!channel.is_string() || channel.get_ref<const std::string&>().empty() ||
        channel.get_ref<const std::string&>().size() > kMaxChannelName)
        return error(id, "bad-frame", "\"channel\" must be a string of 1 to 256 characters");
    for (const char* key : {"table", "where", "params", "columns", "order_by", "limit"})
        if (frame.contains(key))
            return error(id, "bad-frame",
                         std::string("a channel subscription takes no \"") + key +
                             "\": the channel defines its table and rows; give \"channel\" or "
                             "\"table\", not both");
    SubscribeRequest request;
    request.id = id;
    request.channel = channel.get<std::string>();
    if (auto offset = frame.find("offset"); offset != frame.end() && !offset->is_null()) {
        if (!offset->is_string()) return error(id, "bad-offset", "\"offset\" must be a string");
        request.offset = offset->get<std::string>();
    }
    return request;
}

ClientFrame parse_subscribe(const json& frame) {
    auto id = frame_id(frame);
    if (!id)
        return error({}, "bad-frame", "subscribe needs \"id\": a string of 1 to 64 characters");
    if (frame.contains("channel")) return parse_channel_subscribe(frame, *id);
    SubscribeRequest request;
    request.id = *id;
    auto table = frame.find("table");
    if (table == frame.end() || !table->is_string())
        return error(*id, "bad-frame", "subscribe needs \"table\" (a string) or \"channel\"");
    request.table_text = table->get<std::string>();
    auto name = config::parse_table_name(request.table_text);
    if (!name)
        return error(*id, "unknown-table", "\"" + request.table_text + "\" is not a table name");
    request.table = *name;
    if (auto where = frame.find("where"); where != frame.end() && !where->is_null()) {
        if (!where->is_string()) return error(*id, "bad-frame", "\"where\" must be a string");
        auto parsed = filter::parse_where(where->get_ref<const std::string&>());
        if (!parsed.ok()) return error(*id, "bad-filter", parsed.error.message);
        request.where = std::move(parsed.expr);
    }
    if (auto params = frame.find("params"); params != frame.end() && !params->is_null()) {
        if (!params->is_array()) return error(*id, "bad-frame", "\"params\" must be an array");
        for (const auto& value : *params) {
            if (value.is_object() || value.is_array())
                return error(*id, "bad-frame",
                             "\"params\" holds strings, numbers, booleans or null");
            request.params.push_back(param_text(value));
        }
    }
    if (auto columns = frame.find("columns"); columns != frame.end() && !columns->is_null()) {
        if (!columns->is_array()) return error(*id, "bad-frame", "\"columns\" must be an array");
        for (const auto& c : *columns) {
            if (!c.is_string())
                return error(*id, "bad-frame", "\"columns\" holds column names (strings)");
            request.columns.push_back(c.get<std::string>());
        }
    }
    if (auto offset = frame.find("offset"); offset != frame.end() && !offset->is_null()) {
        if (!offset->is_string()) return error(*id, "bad-offset", "\"offset\" must be a string");
        request.offset = offset->get<std::string>();
    }
    if (auto order_by = frame.find("order_by"); order_by != frame.end() && !order_by->is_null()) {
        if (!order_by->is_string() || order_by->get_ref<const std::string&>().size() > kMaxOrderByText)
            return error(*id, "bad-frame",
                         "\"order_by\" must be a string of at most 1024 bytes, e.g. "
                         "\"created_at desc\"");
        request.order_by = order_by->get<std::string>();
    }
    if (auto limit = frame.find("limit"); limit != frame.end() && !limit->is_null()) {
        if (!limit->is_number_unsigned() || limit->get<uint64_t>() == 0 ||
            limit->get<uint64_t>() > kMaxWindowRows)
            return error(*id, "bad-frame", "\"limit\" must be an integer from 1 to 1000");
        request.limit = limit->get<uint64_t>();
    }
    if (request.order_by.has_value() != request.limit.has_value())
        return error(*id, "bad-frame",
                     request.limit ? "\"limit\" needs \"order_by\": which rows come first?"
                                   : "\"order_by\" needs \"limit\"; without a limit, order the "
                                     "rows in the client");
    if (request.limit && request.offset)
        return error(*id, "bad-frame",
                     "an ordered window does not resume from an offset: subscribe without "
                     "\"offset\" and it sends its rows anew");
    return request;
}

} // namespace

ClientFrame parse_client_frame(std::string_view text, bool raw_endpoint) {
    json frame = json::parse(text, nullptr, false);
    if (frame.is_discarded() || !frame.is_object())
        return error({}, "bad-frame", "a frame must be a JSON object");
    auto type_it = frame.find("type");
    if (type_it == frame.end() || !type_it->is_string())
        return error({}, "bad-frame", "a frame needs \"type\": a string");
    const std::string& type = type_it->get_ref<const std::string&>();
    if (type == "ack") {
        AckRequest ack;
        if (!raw_endpoint) {
            auto id = frame_id(frame);
            if (!id) return error({}, "bad-frame", "ack needs \"id\"");
            ack.id = *id;
        }
        auto offset = frame.find("offset");
        if (offset == frame.end() || !offset->is_string())
            return error(ack.id, "bad-frame", "ack needs \"offset\": a string");
        ack.offset = offset->get<std::string>();
        return ack;
    }
    if (raw_endpoint)
        return error({}, "bad-frame",
                     "unknown frame type \"" + type + "\" on /v1/stream (only \"ack\")");
    if (type == "subscribe") return parse_subscribe(frame);
    if (type == "auth") {
        auto token = frame.find("token");
        if (token == frame.end() || !token->is_string() || token->get_ref<const std::string&>().empty())
            return error({}, "bad-frame", "auth needs \"token\": a string");
        return AuthRequest{token->get<std::string>()};
    }
    if (type == "unsubscribe") {
        auto id = frame_id(frame);
        if (!id) return error({}, "bad-frame", "unsubscribe needs \"id\"");
        return UnsubscribeRequest{*id};
    }
    return error({}, "bad-frame",
                 "unknown frame type \"" + type + "\" (subscribe, ack, unsubscribe or auth)");
}

} // namespace pgsync::serve
