// /v1/shape on libwebsockets: requests in, held long-polls, replies and SSE streams out.
#include "serve/net/shape_http.h"

#include "serve/net/http_request.h"

#include "util/log.h"
#include "util/unix_time.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <libwebsockets.h>

namespace pgsync::serve {

using electric::Answer;
using electric::ElectricShape;

namespace {

constexpr size_t kWriteBytes = 64 * 1024;
constexpr int kSseKeepaliveSeconds = 21;
constexpr size_t kMaxBodyBytes = 64 * 1024; // a POST subset's JSON

std::string method_of(lws* wsi) {
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) return "GET";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0) return "HEAD";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0) return "DELETE";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) return "OPTIONS";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) return "POST";
    return "OTHER";
}


} // namespace

struct HeldRequest {
    lws* wsi = nullptr;
    electric::ShapeRequest request;
    std::optional<Principal> principal; // none: insecure
    electric::RequestInfo info;
    enum class Phase { Waiting, Writing, Streaming, Done } phase = Phase::Waiting;
    std::shared_ptr<ElectricShape> watched; // Waiting or Streaming: indexed in m_held
    std::shared_ptr<electric::SubsetQuery> subset; // a subset snapshot's query, once started
    std::string authorization;
    std::vector<electric::QueryParam> query;
    std::string post_body; // POST: the subset parameters as JSON, as they arrive
    bool body_pending = false;
    std::string head;                       // the status line and headers, written first
    std::string body;                       // then this
    size_t sent = 0;                        // of body
    bool head_sent = false;
    bool streaming = false; // SSE: the body is open-ended
    LogOffset position;     // SSE: what the client has
    std::chrono::steady_clock::time_point stream_end, next_keepalive;
    uint64_t id = 0; // the key of m_requests and of its deadlines
    std::chrono::steady_clock::time_point deadline; // Waiting: when the long-poll answers
};

ShapeHttp::ShapeHttp(electric::ShapeApi& api, ShapeHttpOptions options)
    : m_api(api), m_options(std::move(options)) {}

ShapeHttp::~ShapeHttp() = default;

int ShapeHttp::on_request(lws* wsi, HeldRequest*& held) {
    if (held) on_closed(held); // a new request on a kept-alive connection
    if (m_options.metrics) ++m_options.metrics->shape_requests_total;
    held = new HeldRequest;
    HeldRequest& request = *held;
    request.wsi = wsi;
    request.id = m_next_id++;
    m_requests[request.id] = held;
    request.info.method = method_of(wsi);
    request.info.origin = request_header(wsi, WSI_TOKEN_ORIGIN);
    request.info.if_none_match = request_header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);
    request.info.request_headers = request_header(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
    request.authorization = request_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    for (auto& [name, value] : request_query(wsi, electric::kMaxParams + 100))
        request.query.push_back({std::move(name), std::move(value)});
    if (request.info.method == "POST") {
        // A subset snapshot's parameters come as a JSON body: read it first (on_body).
        const std::string length = request_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        if (!length.empty() && length.size() < 12 &&
            length.find_first_not_of("0123456789") == std::string::npos &&
            std::stoull(length) <= kMaxBodyBytes) {
            request.body_pending = true;
            return 0;
        }
        lws_http_headers_detach(wsi);
        electric::HttpReply refused = m_api.error(
            length.empty() ? 411 : 413, {},
            length.empty() ? "a POST to /v1/shape needs a Content-Length"
                           : "the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes",
            request.info);
        return start_reply(wsi, request, refused, false) ? 0 : -1;
    }
    // Everything needed is copied: lws's header buffer goes back to its pool, so thousands of
    // held long-polls cost only their HeldRequest.
    lws_http_headers_detach(wsi);
    return proceed(wsi, request);
}

int ShapeHttp::on_body(lws* wsi, HeldRequest* held, const char* data, size_t length, bool complete) {
    if (!held || !held->body_pending) return -1;
    if (!complete) {
        if (held->post_body.size() + length > kMaxBodyBytes) return -1;
        held->post_body.append(data, length);
        return 0;
    }
    held->body_pending = false;
    lws_http_headers_detach(wsi);
    return proceed(wsi, *held);
}

// The request is all there: check it, authenticate it, answer or hold it.
int ShapeHttp::proceed(lws* wsi, HeldRequest& request) {
    const std::string& method = request.info.method;
    const std::string& authorization = request.authorization;
    electric::HttpReply early;
    bool answered = false;
    if (method == "OPTIONS") {
        early = m_api.preflight(request.info);
        answered = true;
    } else if (method != "GET" && method != "HEAD" && method != "DELETE" && method != "POST") {
        early = m_api.error(405, {}, "method not allowed on /v1/shape; use GET, HEAD, POST "
                                     "(subset snapshots), DELETE or OPTIONS",
                            request.info);
        answered = true;
    }
    electric::RequestError problem;
    if (!answered && !electric::parse_shape_request(request.query, method == "DELETE",
                                                    request.request, problem)) {
        early = m_api.error(400, problem.field, problem.message, request.info);
        answered = true;
    }
    if (!answered && method == "POST" &&
        !electric::parse_subset_body(request.post_body, request.request.subset, problem)) {
        early = m_api.error(400, problem.field, problem.message, request.info);
        answered = true;
    }
    request.query.clear();
    request.query.shrink_to_fit();
    request.post_body.clear();
    // Who it is: an API key (Bearer, or Electric's secret/api_secret parameter) may do anything,
    // a JWT what its grants say; --insecure serves everyone.
    if (!answered && !m_options.insecure) {
        std::string bearer;
        if (authorization.size() > 7 && strncasecmp(authorization.c_str(), "Bearer ", 7) == 0)
            bearer = authorization.substr(7);
        const std::string& key = !request.request.secret.empty() ? request.request.secret : bearer;
        if (!m_options.api_key.empty() && !key.empty() && api_key_matches(key, m_options.api_key)) {
            Principal principal;
            principal.all_tables = true;
            principal.subject = "api-key";
            principal.api_key = true;
            request.principal = std::move(principal);
            request.info.authorized = true;
        } else if (method == "DELETE") {
            early = m_api.error(401, {}, "Unauthorized - an API key is required to delete a shape",
                                request.info);
            answered = true;
        } else if (m_options.jwt && !bearer.empty()) {
            AuthResult result = m_options.jwt->verify(bearer, unix_now());
            if (result.principal && m_options.row_webhook) {
                early = m_api.error(403, {},
                                    "Forbidden - this server authorises each row with the app's "
                                    "row webhook, which /v1/shape cannot apply: use /v1/ws",
                                    request.info);
                answered = true;
            } else if (result.principal) {
                request.principal = std::move(*result.principal);
                request.info.authorized = true;
            } else {
                early = m_api.error(401, {}, "Unauthorized - invalid token: " + result.error,
                                    request.info);
                answered = true;
            }
        } else {
            early = m_api.error(401, {},
                                bearer.empty() && key.empty()
                                    ? "Unauthorized - a token is required: Authorization: Bearer "
                                      "<jwt or API key>"
                                    : "Unauthorized - Invalid API secret",
                                request.info);
            answered = true;
        }
    }
    if (!answered && method == "DELETE") {
        early = m_api.remove(request.request, request.principal ? &*request.principal : nullptr,
                             request.info);
        answered = true;
    }
    if (answered) return start_reply(wsi, request, early, false) ? 0 : -1;
    respond(wsi, request, false);
    return 0;
}

// Asks the api what to answer now, and writes it, holds the request, or starts the stream.
void ShapeHttp::respond(lws* wsi, HeldRequest& held, bool timed_out) {
    if (held.phase != HeldRequest::Phase::Waiting) return;
    Answer answer = m_api.answer(held.request, held.principal ? &*held.principal : nullptr,
                                 held.info, timed_out, held.subset);
    if (answer.kind == Answer::Kind::Wait) {
        if (held.watched != answer.shape) { // newly held: its time starts now
            if (!held.watched && m_options.metrics &&
                m_options.metrics->shape_held.load() >= m_options.max_held) {
                electric::HttpReply busy =
                    m_api.error(503, {}, "too many requests are waiting; retry later", held.info);
                if (!start_reply(wsi, held, busy, false))
                    lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
                return;
            }
            unhold(held);
            held.watched = answer.shape;
            m_held[held.watched.get()].push_back(&held);
            if (m_options.metrics) ++m_options.metrics->shape_held;
            hold(held);
        }
        return;
    }
    unhold(held);
    const bool stream = answer.kind == Answer::Kind::Stream;
    if (!start_reply(wsi, held, answer.reply, stream)) {
        lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        return;
    }
    if (stream) {
        held.phase = HeldRequest::Phase::Streaming;
        held.streaming = true;
        held.position = answer.position;
        held.watched = answer.shape;
        m_held[held.watched.get()].push_back(&held);
        const auto now = std::chrono::steady_clock::now();
        held.stream_end = now + std::chrono::seconds(m_api.options().sse_seconds);
        held.next_keepalive = now + std::chrono::seconds(kSseKeepaliveSeconds);
        lws_http_mark_sse(wsi);
        held.body += m_api.sse_events(*held.watched, held.position);
        m_deadlines.push({held.next_keepalive, held.id});
    }
}

// The head through lws (it knows the connection's HTTP version), then the body, written as the
// socket takes them (on_writeable). False when the head does not fit.
bool ShapeHttp::start_reply(lws* wsi, HeldRequest& held, electric::HttpReply& reply, bool stream) {
    size_t room = 2048;
    for (auto& [name, value] : reply.headers)
        room += name.size() + value.size() + 8;
    std::string buffer(LWS_PRE + room, '\0');
    auto* start = reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = reinterpret_cast<unsigned char*>(buffer.data()) + buffer.size();
    if (lws_add_http_header_status(wsi, unsigned(reply.status), &p, end)) return false;
    for (auto& [name, value] : reply.headers) {
        std::string key = name + ":";
        if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(key.c_str()),
                                        reinterpret_cast<const unsigned char*>(value.data()),
                                        int(value.size()), &p, end))
            return false;
    }
    if (!stream && lws_add_http_header_content_length(wsi, reply.body.size(), &p, end))
        return false;
    if (lws_finalize_http_header(wsi, &p, end)) return false;
    held.head.assign(reinterpret_cast<char*>(start), size_t(p - start));
    held.body = held.info.method == "HEAD" ? std::string() : std::move(reply.body);
    held.sent = 0;
    held.head_sent = false;
    held.phase = HeldRequest::Phase::Writing;
    lws_callback_on_writable(wsi);
    return true;
}

// The long-poll's deadline goes on the shard's heap, not on an lws timer: lws keeps its timers
// in one sorted list, so arming one per request costs a walk of every held request (at 10,000
// held long-polls, most of the server's time).
void ShapeHttp::hold(HeldRequest& held) {
    lws_set_timeout(held.wsi, NO_PENDING_TIMEOUT, 0); // a removal: cheap; lws must not end it
    held.deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(m_api.options().long_poll_seconds);
    m_deadlines.push({held.deadline, held.id});
}

void ShapeHttp::tick() {
    const auto now = std::chrono::steady_clock::now();
    while (!m_deadlines.empty() && m_deadlines.top().first <= now) {
        const uint64_t id = m_deadlines.top().second;
        m_deadlines.pop();
        auto it = m_requests.find(id);
        if (it == m_requests.end()) continue; // closed
        HeldRequest& held = *it->second;
        if (held.phase == HeldRequest::Phase::Streaming) {
            if (now >= held.stream_end) { // ended once what is in hand is written
                lws_callback_on_writable(held.wsi);
                continue;
            }
            if (now >= held.next_keepalive) {
                held.body.append(": keep-alive\n\n");
                held.next_keepalive = now + std::chrono::seconds(kSseKeepaliveSeconds);
                lws_callback_on_writable(held.wsi);
            }
            m_deadlines.push({std::min(held.stream_end, held.next_keepalive), id});
            continue;
        }
        if (held.phase != HeldRequest::Phase::Waiting || held.deadline > now) continue; // stale
        // A live long-poll's time is up: answered up-to-date. A shape still loading (or a subset
        // query still running) keeps the request waiting.
        if (held.request.live)
            respond(held.wsi, held, true);
        else
            hold(held);
    }
}

void ShapeHttp::unhold(HeldRequest& held) {
    if (!held.watched) return;
    if (m_options.metrics && held.phase == HeldRequest::Phase::Waiting) --m_options.metrics->shape_held;
    auto it = m_held.find(held.watched.get());
    if (it != m_held.end()) {
        std::erase(it->second, &held);
        if (it->second.empty()) m_held.erase(it);
    }
    held.watched.reset();
}

int ShapeHttp::on_writeable(lws* wsi, HeldRequest* held) {
    if (!held || held->phase == HeldRequest::Phase::Waiting ||
        held->phase == HeldRequest::Phase::Done)
        return 0;
    std::string chunk(LWS_PRE + kWriteBytes, '\0');
    auto* payload = reinterpret_cast<unsigned char*>(chunk.data()) + LWS_PRE;
    if (!held->head_sent) {
        if (held->head.size() > kWriteBytes) return -1;
        std::memcpy(payload, held->head.data(), held->head.size());
        if (lws_write(wsi, payload, held->head.size(), LWS_WRITE_HTTP_HEADERS) <
            int(held->head.size()))
            return -1;
        held->head_sent = true;
        if (!held->body.empty() || held->streaming) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (held->sent < held->body.size()) {
        const size_t n = std::min(kWriteBytes, held->body.size() - held->sent);
        std::memcpy(payload, held->body.data() + held->sent, n);
        const bool last = !held->streaming && held->sent + n == held->body.size();
        if (lws_write(wsi, payload, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < int(n))
            return -1;
        held->sent += n;
        if (held->sent < held->body.size()) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (held->streaming) {
        held->body.clear();
        held->sent = 0;
        if (std::chrono::steady_clock::now() >= held->stream_end) return -1; // the stream's end
        // A client behind gets the log slice by slice, as its socket takes them.
        if (held->watched) held->body = m_api.sse_events(*held->watched, held->position);
        if (!held->body.empty()) lws_callback_on_writable(wsi);
        return 0;
    }
    // Done: the connection may carry the client's next request.
    held->phase = HeldRequest::Phase::Done;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void ShapeHttp::on_closed(HeldRequest*& held) {
    if (!held) return;
    m_requests.erase(held->id);
    unhold(*held);
    delete held;
    held = nullptr;
}

void ShapeHttp::post_changed(const std::vector<std::shared_ptr<ElectricShape>>& shapes) {
    std::lock_guard lock(m_inbox_mutex);
    m_inbox.insert(m_inbox.end(), shapes.begin(), shapes.end());
}

void ShapeHttp::service() {
    std::vector<std::shared_ptr<ElectricShape>> changed;
    {
        std::lock_guard lock(m_inbox_mutex);
        changed.swap(m_inbox);
    }
    for (auto& shape : changed) {
        auto it = m_held.find(shape.get());
        if (it == m_held.end()) continue;
        std::vector<HeldRequest*> requests = it->second; // respond() edits the list
        for (HeldRequest* held : requests) {
            if (held->phase == HeldRequest::Phase::Waiting) {
                respond(held->wsi, *held, false);
            } else if (held->phase == HeldRequest::Phase::Streaming) {
                if (shape->state.load() != ElectricShape::State::Ready) {
                    // Rotated: the stream ends; the client's next request gets the 409.
                    held->stream_end = std::chrono::steady_clock::now();
                    lws_callback_on_writable(held->wsi);
                    continue;
                }
                // Written as the socket takes it: on_writeable reads the next slice when this one
                // is out, so only a stream with nothing in hand reads here.
                if (held->sent < held->body.size()) continue;
                held->body = m_api.sse_events(*shape, held->position);
                held->sent = 0;
                if (!held->body.empty()) lws_callback_on_writable(held->wsi);
            }
        }
    }
}

} // namespace pgsync::serve
