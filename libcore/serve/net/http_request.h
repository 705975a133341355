// What libwebsockets parsed of an HTTP request, read out safely: a header's value, the query's
// decoded parameters, the bearer token, the method. Shared by the WebSocket upgrades (ws_layer)
// and /v1/shape (shape_http). On the connection's own thread, while lws still holds the headers.
#pragma once

#include <libwebsockets.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsync::serve {

// Room for HTTP headers: a JWT of up to auth.h's limit in Authorization or ?token=, with margin.
inline constexpr unsigned short kMaxHeaderBytes = 32 * 1024;

// The header's value, or empty when absent or larger than kMaxHeaderBytes.
std::string request_header(lws* wsi, lws_token_indexes token);
// The query's parameters as lws decoded them (percent escapes and '+'), split at the first '='
// (a parameter without one has an empty value); at most max_params.
std::vector<std::pair<std::string, std::string>> request_query(lws* wsi, size_t max_params);
// The value of one query parameter, or empty.
std::string request_query_value(lws* wsi, std::string_view name);
// The token of "Authorization: Bearer <token>", or empty.
std::string request_bearer(lws* wsi);

} // namespace pgsync::serve
