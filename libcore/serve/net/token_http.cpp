// POST /v1/token on libwebsockets: the method, the API key and the body's length are checked as
// the request arrives; the body is collected, then answered at once (a token is small).
#include "serve/net/token_http.h"

#include "serve/access/auth.h"
#include "serve/metrics.h"
#include "serve/net/http_request.h"
#include "util/log.h"
#include "util/unix_time.h"

#include <chrono>
#include <cstring>
#include <libwebsockets.h>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace pgsync::serve {

namespace {

constexpr size_t kMaxBodyBytes = 64 * 1024;


// The value of a header lws has no token for ("x-api-key:"), or empty.
std::string custom_header(lws* wsi, const char* name_with_colon) {
    const int name_length = int(std::strlen(name_with_colon));
    const int length = lws_hdr_custom_length(wsi, name_with_colon, name_length);
    if (length <= 0 || length > kMaxHeaderBytes) return {};
    std::string value(size_t(length) + 1, '\0');
    const int copied =
        lws_hdr_custom_copy(wsi, value.data(), length + 1, name_with_colon, name_length);
    if (copied < 0) return {};
    value.resize(size_t(copied));
    return value;
}

std::string error_body(const std::string& error, const std::string& hint) {
    nlohmann::json body = {{"error", error}};
    if (!hint.empty()) body["hint"] = hint;
    return body.dump() + "\n";
}

// Writes a whole reply (status, JSON body, extra headers). Non-zero: close the connection.
int reply(lws* wsi, unsigned status, const std::string& body,
          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string buffer(LWS_PRE + 2048 + body.size(), '\0');
    auto* start = reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = reinterpret_cast<unsigned char*>(buffer.data()) + buffer.size();
    if (lws_add_http_common_headers(wsi, status, "application/json", body.size(), &p, end))
        return -1;
    for (const auto& [name, value] : headers) {
        const std::string key = name + ":";
        if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(key.c_str()),
                                        reinterpret_cast<const unsigned char*>(value.data()),
                                        int(value.size()), &p, end))
            return -1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    std::memcpy(p, body.data(), body.size());
    if (lws_write(wsi, p, body.size(), LWS_WRITE_HTTP_FINAL) < int(body.size())) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

} // namespace

struct TokenRequest {
    std::string api_key; // as given, from either header
    std::string body;
    bool body_pending = false;
};

TokenHttp::TokenHttp(TokenHttpOptions options) : m_options(std::move(options)) {}

int TokenHttp::on_request(lws* wsi, TokenRequest*& request) {
    on_closed(request); // a new request on a kept-alive connection
    const bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    if (!post && m_options.metrics) ++m_options.metrics->token_requests_refused_total;
    if (!post)
        return reply(wsi, 405,
                     error_body("method not allowed on /v1/token",
                                "POST the token request as JSON with the API key."),
                     {{"allow", "POST"}});
    request = new TokenRequest;
    request->api_key = request_bearer(wsi);
    if (request->api_key.empty()) request->api_key = custom_header(wsi, "x-api-key:");
    const std::string length = request_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (length.empty() || length.size() >= 12 ||
        length.find_first_not_of("0123456789") != std::string::npos) {
        if (m_options.metrics) ++m_options.metrics->token_requests_refused_total;
        reply(wsi, 411,
              error_body("a POST to /v1/token needs a Content-Length",
                         "Send the JSON body with its Content-Length."));
        return -1; // without a length the body's end is unknown: the connection cannot be reused
    }
    if (std::stoull(length) > kMaxBodyBytes) {
        if (m_options.metrics) ++m_options.metrics->token_requests_refused_total;
        reply(wsi, 413,
              error_body("the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes",
                         "Grant fewer tables, or \"*\"."));
        return -1; // the unread body must not be read as the next request
    }
    if (std::stoull(length) == 0) return finish(wsi, *request); // lws sends no body callbacks
    request->body_pending = true;
    return 0;
}

int TokenHttp::on_body(lws* wsi, TokenRequest* request, const char* data, size_t length,
                       bool complete) {
    if (!request || !request->body_pending) return -1;
    if (!complete) {
        if (request->body.size() + length > kMaxBodyBytes) return -1; // more than it announced
        request->body.append(data, length);
        return 0;
    }
    request->body_pending = false;
    return finish(wsi, *request);
}

int TokenHttp::finish(lws* wsi, TokenRequest& request) {
    auto refused = [&](unsigned status, const std::string& error, const std::string& hint) {
        if (m_options.metrics) ++m_options.metrics->token_requests_refused_total;
        log::debug("refused a /v1/token request: " + error);
        return reply(wsi, status, error_body(error, hint));
    };
    if (m_options.issuer.secret.empty())
        return refused(501, "/v1/token is disabled: the server has no JWT secret",
                       "Start pgsync-serve with --jwt-secret-env (and --api-key-env).");
    if (m_options.api_key.empty())
        return refused(501, "/v1/token is disabled: the server has no API key",
                       "Start pgsync-serve with --api-key-env.");
    if (request.api_key.empty())
        return refused(401, "an API key is required for /v1/token",
                       "Send it as \"Authorization: Bearer <key>\" or \"x-api-key: <key>\".");
    if (!api_key_matches(request.api_key, m_options.api_key))
        return refused(401, "invalid API key", {});
    IssueResult result = issue_token(request.body, m_options.issuer, unix_now());
    request.body.clear();
    if (!result.issued) return refused(400, result.error, result.hint);
    if (m_options.metrics) ++m_options.metrics->tokens_issued_total;
    const nlohmann::json body = {{"token", result.issued->token},
                                 {"expires_at", result.issued->expires_at}};
    return reply(wsi, 200, body.dump() + "\n", {{"cache-control", "no-store"}});
}

void TokenHttp::on_closed(TokenRequest*& request) {
    delete request;
    request = nullptr;
}

} // namespace pgsync::serve
