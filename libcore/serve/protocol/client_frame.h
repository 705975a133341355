// What a client sent, checked: the frames of /v1/ws (subscribe, ack, unsubscribe, auth) and /v1/stream
// (ack) parsed from JSON text into requests, or an error naming what is wrong. Pure, so the fuzz
// target (serve/client_frame_fuzz.cpp) can hammer it.
#pragma once

#include "config/table_name.h"
#include "filter/expr.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsync::serve {

struct SubscribeRequest {
    std::string id;
    // A channel's feed (pgsync.yaml tables[].channels) instead of a table: then no table, where,
    // params, columns, order_by or limit (the channel defines them); offset resumes.
    std::string channel;
    std::string table_text;              // as the client wrote it (for messages)
    config::TableName table;             // parsed with PostgreSQL's identifier rules
    std::unique_ptr<filter::Expr> where; // null: no filter
    std::vector<std::optional<std::string>> params;
    std::vector<std::string> columns; // empty: every column
    std::optional<std::string> offset;
    // An ordered window (both or neither): the ORDER BY text (serve/shapes/order_by.h) and the
    // number of rows.
    std::optional<std::string> order_by;
    std::optional<uint64_t> limit;
};

// {"type":"auth","token":…}: a fresh token for the connection.
struct AuthRequest {
    std::string token;
};

struct AckRequest {
    std::string id; // empty on /v1/stream
    std::string offset;
};

struct UnsubscribeRequest {
    std::string id;
};

struct FrameError {
    std::string id; // the subscription it is about, when known
    std::string code;
    std::string message;
};

using ClientFrame =
    std::variant<SubscribeRequest, AckRequest, UnsubscribeRequest, AuthRequest, FrameError>;

inline constexpr size_t kMaxSubscriptionId = 64;
inline constexpr uint64_t kMaxWindowRows = 1000;
inline constexpr size_t kMaxOrderByText = 1024;
inline constexpr size_t kMaxChannelName = 256;

// raw_endpoint: /v1/stream, where only {"type":"ack","offset":…} is valid.
ClientFrame parse_client_frame(std::string_view text, bool raw_endpoint);

} // namespace pgsync::serve
