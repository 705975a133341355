// The libwebsockets callbacks. One protocol serves plain HTTP and both WebSocket endpoints; the
// per-connection user data is a Connection (below), which owns the hub's Session once upgraded.
#include "serve/net/ws_layer.h"

#include "serve/hub/hub.h"
#include "serve/hub/session.h"
#include "serve/net/http_request.h"
#include "serve/net/shape_http.h"
#include "serve/net/token_http.h"
#include "util/error.h"
#include "util/log.h"
#include "util/unix_time.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ev.h>
#include <libwebsockets.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unistd.h>
#include <unordered_set>

namespace pgsync::serve {

static_assert(LWS_PRE <= kOutputHeadroom, "output spans keep LWS_PRE bytes of headroom");

namespace {

// A close the server decided (slow consumer, expired token, bad offset) happens within this many
// seconds even when the client reads nothing more: its slot must not be held forever.
constexpr int kCloseGraceSeconds = 10;
// Token expiry timers are armed at most this far ahead and re-armed when they fire early: a
// far-future exp must not overflow lws's microsecond timer.
constexpr int64_t kMaxTimerSeconds = 24 * 3600;

// Per connection, in the protocol's user data (plain memory lws zeroes and frees).
struct Connection {
    Session* session;
    std::string* pending_text; // a text message arriving in fragments
    size_t pending_binary;     // bytes of a binary message arriving (refused, but counted)
    HeldRequest* held;         // a /v1/shape request being answered (owned by ShapeHttp)
    TokenRequest* token;       // a /v1/token request being read (owned by TokenHttp)
};

bool valid_consumer_name(const std::string& name) {
    if (name.empty() || name.size() > 64 || name[0] == '.') return false;
    for (char c : name)
        if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
            return false;
    return true;
}


} // namespace

struct WsLayer::Impl {
    explicit Impl(Metrics& m) : metrics(m) {}

    Metrics& metrics;
    WsLayerOptions options;
    Hub* hub = nullptr;
    lws_context* context = nullptr;
    // libev's epoll loop, which lws runs on as a foreign loop: lws's own poll(2) loop walks every
    // descriptor on each wake, which 10,000 idle clients make the server's main cost.
    struct ev_loop* loop = nullptr;
    std::atomic<lws_context*> wake_context{nullptr}; // read by other threads
    std::atomic<bool> wake_pending{false}; // one cancel per service loop, however many callers
    std::mutex wake_mutex;
    std::vector<int> adopting; // accepted connections handed over, under wake_mutex
    lws_vhost* vhost = nullptr;
    const JwtVerifier* jwt = nullptr;
    OriginPolicy origin_policy;
    lws_retry_bo_t idle_policy{};
    lws_http_mount static_mount{};
    std::unordered_set<Session*> sessions;
    // Who an upgrade request is, from the filter callback until the connection is established.
    std::unordered_map<lws*, std::pair<Endpoint, Principal>> pending;
    size_t counted = 0; // sessions and pending as last added to options.shared->connections

    // Keeps the server-wide connection count in step with this shard's sessions and pending.
    void recount() {
        const size_t now = sessions.size() + pending.size();
        if (now > counted)
            options.shared->connections += now - counted;
        else
            options.shared->connections -= counted - now;
        counted = now;
    }

    // On this shard's thread: the connections the listener handed over become lws's.
    void adopt_handed_over() {
        std::vector<int> fds;
        {
            std::lock_guard lock(wake_mutex);
            fds.swap(adopting);
        }
        for (int fd : fds)
            if (!lws_adopt_socket_vhost(vhost, fd)) // lws closed fd
                log::warning("libwebsockets could not take a new connection");
    }
    struct Tick { // standard layout, so lws_container_of can find the Impl from the timer
        lws_sorted_usec_list_t sul;
        Impl* impl;
    } tick_timer{{}, this};
    bool stopping = false;

    // Answers an HTTP request (or refuses an upgrade) with a status and a JSON or text body.
    static int reply(lws* wsi, unsigned status, const std::string& body,
                     const char* content_type = "application/json") {
        std::string buffer(LWS_PRE + 1024 + body.size(), '\0');
        auto* start = reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE;
        unsigned char* p = start;
        unsigned char* end = reinterpret_cast<unsigned char*>(buffer.data()) + buffer.size();
        if (lws_add_http_common_headers(wsi, status, content_type, body.size(), &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        std::memcpy(p, body.data(), body.size());
        if (lws_write(wsi, p, body.size(), LWS_WRITE_HTTP_FINAL) < int(body.size())) return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }

    static std::string message_body(const std::string& message) {
        return nlohmann::json{{"message", message}}.dump() + "\n";
    }

    int on_http(lws* wsi, std::string_view path, Connection& connection) {
        if (path == "/v1/shape" && options.shapes)
            return options.shapes->on_request(wsi, connection.held);
        if (path == "/v1/token" && options.tokens)
            return options.tokens->on_request(wsi, connection.token);
        if (path == "/v1/health") {
            const bool ok = options.health ? options.health() : true;
            return reply(wsi, ok ? 200 : 503,
                         ok ? "{\"status\":\"active\"}\n" : "{\"status\":\"starting\"}\n");
        }
        if (path == "/metrics")
            return reply(wsi, 200, metrics.render(), "text/plain; version=0.0.4");
        return reply(wsi, 404,
                     message_body("no such endpoint; try /v1/shape, /v1/ws, /v1/stream, "
                                  "/v1/token, /v1/health or /metrics"));
    }

    // Before the upgrade: the path, the credentials, the connection limit. Non-zero refuses.
    int on_filter(lws* wsi) {
        std::string path = request_header(wsi, WSI_TOKEN_GET_URI);
        if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
        Endpoint endpoint;
        if (path == "/v1/ws")
            endpoint = Endpoint::Shapes;
        else if (path == "/v1/stream")
            endpoint = Endpoint::Raw;
        else
            return refuse(wsi, 404, "no WebSocket endpoint at this path; use /v1/ws or /v1/stream");
        if (const char* refused = refuse_origin(origin_policy, request_header(wsi, WSI_TOKEN_ORIGIN),
                                                request_header(wsi, WSI_TOKEN_HOST)))
            return refuse(wsi, 403, refused);
        if (options.shared->connections.load() >= options.max_clients)
            return refuse(wsi, 503, "too many clients; retry later");
        Principal principal;
        if (!options.insecure) {
            if (endpoint == Endpoint::Raw) {
                std::string key = request_bearer(wsi);
                if (key.empty()) key = request_query_value(wsi, "api_key");
                if (options.api_key.empty())
                    return refuse(wsi, 403,
                                  "/v1/stream is disabled: the server has no API key "
                                  "(--api-key-env)");
                if (key.empty() || !api_key_matches(key, options.api_key))
                    return refuse(wsi, 401,
                                  key.empty() ? "an API key is required for /v1/stream"
                                              : "invalid API key");
                principal.all_tables = true;
                principal.subject = "api-key";
                principal.api_key = true;
            } else {
                if (!jwt)
                    return refuse(wsi, 403,
                                  "/v1/ws is disabled: the server has no JWT secret or public key "
                                  "(--jwt-secret-env, --jwt-public-key-file, --jwks-file)");
                std::string token = request_bearer(wsi);
                if (token.empty()) token = request_query_value(wsi, "token");
                if (token.empty())
                    return refuse(wsi, 401,
                                  "a token is required: Authorization: Bearer <jwt> or "
                                  "?token=<jwt>");
                AuthResult result = jwt->verify(token, unix_now());
                if (!result.principal) return refuse(wsi, 401, "invalid token: " + result.error);
                principal = std::move(*result.principal);
            }
        }
        if (endpoint == Endpoint::Raw) {
            std::string consumer = request_query_value(wsi, "consumer");
            if (!consumer.empty() && !valid_consumer_name(consumer))
                return refuse(wsi, 400,
                              "invalid consumer name \"" + consumer +
                                  "\": use 1 to 64 letters, digits, '_', '-' or '.'");
        }
        pending[wsi] = {endpoint, std::move(principal)};
        recount();
        return 0;
    }

    int refuse(lws* wsi, unsigned status, const std::string& message) {
        log::debug("refused a WebSocket upgrade: " + message);
        // lws puts the text in an HTML page: escaped, so nothing a client sent can become markup.
        lws_return_http_status(wsi, status, html_escape(message).c_str());
        return -1;
    }

    void on_established(lws* wsi, Connection& connection) {
        auto it = pending.find(wsi);
        auto session = std::make_unique<Session>();
        session->id = options.shared->next_session_id++;
        session->transport = wsi;
        session->insecure = options.insecure;
        if (it != pending.end()) {
            session->endpoint = it->second.first;
            session->principal = std::move(it->second.second);
            pending.erase(it);
        }
        if (session->endpoint == Endpoint::Raw) session->consumer = request_query_value(wsi, "consumer");
        connection.session = session.release();
        sessions.insert(connection.session);
        recount();
        hub->on_open(*connection.session);
        if (connection.session->endpoint == Endpoint::Raw)
            hub->start_raw(*connection.session, request_query_value(wsi, "offset"));
        // Disconnect when the token expires (F6: authorisation is re-checked).
        arm_expiry(wsi, *connection.session);
    }

    // The token's expiry, at most kMaxTimerSeconds ahead (on_timer re-arms until it is due).
    static void arm_expiry(lws* wsi, const Session& session) {
        const int64_t exp = session.principal.expires_at;
        if (!exp) return;
        const int64_t seconds = std::clamp<int64_t>(exp - unix_now(), 0, kMaxTimerSeconds);
        lws_set_timer_usecs(wsi, lws_usec_t(seconds) * LWS_USEC_PER_SEC + 1);
    }

    int on_receive(lws* wsi, Connection& connection, const char* data, size_t length) {
        Session* session = connection.session;
        if (!session) return -1;
        if (lws_frame_is_binary(wsi)) {
            // Refused, but counted against the same limit as text, and answered at once.
            connection.pending_binary += length;
            if (connection.pending_binary > options.max_frame_bytes) return too_large(wsi);
            if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
            connection.pending_binary = 0;
            hub->send_error(*session, "bad-frame",
                            "binary frames are not accepted; send JSON text");
            return 0;
        }
        if (!connection.pending_text) connection.pending_text = new std::string;
        std::string& text = *connection.pending_text;
        if (text.size() + length > options.max_frame_bytes) return too_large(wsi);
        text.append(data, length);
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) return 0;
        std::string message;
        message.swap(text);
        hub->on_text(*session, message);
        return 0;
    }

    static int too_large(lws* wsi) {
        const char reason[] = "frame too large";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         reinterpret_cast<unsigned char*>(const_cast<char*>(reason)),
                         sizeof reason - 1);
        return -1;
    }

    // Writes the session's output, many frames per send: the OutputQueue holds them with their
    // WebSocket headers (server frames are not masked), so a span of it goes out as one raw
    // write, which lws buffers itself if the socket takes only part. One send per frame cost
    // more than everything else together.
    int on_writeable(lws* wsi, Connection& connection) {
        Session* session = connection.session;
        if (!session) return 0;
        session->wake_requested = false;
        constexpr size_t kWriteBytes = 64 * 1024;
        OutputQueue& output = session->output;
        while (!output.empty()) {
            std::string_view span = output.next(kWriteBytes);
            auto* payload = reinterpret_cast<unsigned char*>(output.writable(span));
            if (lws_write(wsi, payload, span.size(), LWS_WRITE_RAW) < int(span.size())) return -1;
            // A closing client that still reads gets its last frames: the deadline counts from
            // its last progress.
            if (session->close_code)
                lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, kCloseGraceSeconds);
            size_t frames = 0;
            output.consumed(span.size(), [&](const FrameMark& mark) {
                Hub::on_frame_written(mark);
                ++frames;
            });
            hub->on_written(*session, span.size(), frames);
            // What the socket did not take, lws keeps and writes when it can; until then nothing
            // more may be written. (lws_send_pipe_choked would ask with a poll(2) per write.)
            if (lws_partial_buffered(wsi)) break;
        }
        if (!output.empty()) {
            session->wake_requested = true;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (session->close_code) {
            lws_close_reason(wsi, lws_close_status(session->close_code),
                             reinterpret_cast<unsigned char*>(session->close_reason.data()),
                             session->close_reason.size());
            return -1;
        }
        return 0;
    }

    void on_closed(lws* wsi, Connection& connection) {
        pending.erase(wsi);
        delete connection.pending_text;
        connection.pending_text = nullptr;
        if (Session* session = connection.session) {
            hub->on_close(*session);
            sessions.erase(session);
            delete session;
            connection.session = nullptr;
        }
        recount();
    }

    void on_timer(lws* wsi, Connection& connection) {
        Session* session = connection.session;
        if (!session || session->close_code) return;
        if (session->principal.expires_at > unix_now()) return arm_expiry(wsi, *session);
        hub->close(*session, 4001, "token expired", "token-expired",
                   "the token expired; reconnect with a new one");
    }

    static void tick(lws_sorted_usec_list_t* sul) {
        Impl* impl = lws_container_of(sul, Tick, sul)->impl;
        if (impl->options.shapes) impl->options.shapes->tick();
        if (impl->options.should_stop && impl->options.should_stop()) {
            impl->stopping = true;
            if (impl->loop) ev_break(impl->loop, EVBREAK_ALL);
        }
        lws_sul_schedule(impl->context, 0, &impl->tick_timer.sul, tick, 250 * LWS_US_PER_MS);
    }
};

namespace {

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
    lws_context* context = lws_get_context(wsi);
    auto* impl = context ? static_cast<WsLayer::Impl*>(lws_context_user(context)) : nullptr;
    if (!impl) return 0;
    auto* connection = static_cast<Connection*>(user);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return impl->on_http(wsi, std::string_view(static_cast<const char*>(in), len),
                             *connection);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (connection && connection->held && impl->options.shapes)
            return impl->options.shapes->on_writeable(wsi, connection->held);
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_HTTP_BODY:
        if (connection && connection->token && impl->options.tokens)
            return impl->options.tokens->on_body(wsi, connection->token,
                                                 static_cast<const char*>(in), len, false);
        if (connection && connection->held && impl->options.shapes)
            return impl->options.shapes->on_body(wsi, connection->held,
                                                 static_cast<const char*>(in), len, false);
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (connection && connection->token && impl->options.tokens)
            return impl->options.tokens->on_body(wsi, connection->token, nullptr, 0, true);
        if (connection && connection->held && impl->options.shapes)
            return impl->options.shapes->on_body(wsi, connection->held, nullptr, 0, true);
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_CLOSED_HTTP:
    // A kept-alive connection's transaction ended: lws frees the user data for the next one.
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (connection && impl->options.shapes) impl->options.shapes->on_closed(connection->held);
        if (connection && impl->options.tokens) impl->options.tokens->on_closed(connection->token);
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return impl->on_filter(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        impl->on_established(wsi, *connection);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return impl->on_receive(wsi, *connection, static_cast<const char*>(in), len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return impl->on_writeable(wsi, *connection);
    case LWS_CALLBACK_TIMER:
        impl->on_timer(wsi, *connection);
        return 0;
    case LWS_CALLBACK_CLOSED:
        impl->on_closed(wsi, *connection);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (connection && impl->options.shapes) impl->options.shapes->on_closed(connection->held);
        if (connection && impl->options.tokens) impl->options.tokens->on_closed(connection->token);
        impl->pending.erase(wsi);
        impl->recount();
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        impl->wake_pending = false;
        impl->adopt_handed_over();
        if (impl->options.shapes) impl->options.shapes->service();
        if (impl->options.on_wake) impl->options.on_wake();
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

const lws_protocols kProtocols[] = {
    {"pgsync", callback, sizeof(Connection), 4096, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

void lws_log(int level, const char* line) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    if (level & LLL_ERR)
        log::warning("libwebsockets: " + text);
    else
        log::debug("libwebsockets: " + text);
}

} // namespace

WsLayer::WsLayer(Metrics& metrics) : m_impl(std::make_unique<Impl>(metrics)) {}

WsLayer::~WsLayer() {
    stop();
}

void WsLayer::start(const WsLayerOptions& options, Hub& hub) {
    Impl& impl = *m_impl;
    impl.options = options;
    impl.hub = &hub;
    impl.jwt = options.jwt;
    impl.origin_policy.insecure = options.insecure;
    impl.origin_policy.allow_origins = options.allow_origins;
    // Idle connections are pinged, and closed when nothing valid (a pong included) came back in
    // time: a client that stopped reading cannot keep its slot.
    const int idle = std::clamp(options.idle_timeout_seconds, 0, 65535);
    impl.idle_policy.secs_since_valid_ping = uint16_t(std::max(1, idle / 2));
    impl.idle_policy.secs_since_valid_hangup = uint16_t(idle);
    lws_set_log_level(log::level() >= log::Level::Debug ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR,
                      lws_log);
    lws_context_creation_info info{};
    // The Listener accepts; this context serves only what it is handed (adopt).
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = kProtocols;
    info.user = &impl;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    // epoll through libev when lws's libev plugin is there (libwebsockets-evlib-ev); otherwise
    // lws's own poll(2) loop, which works the same, only slower with many clients.
    impl.loop = ev_loop_new(unsigned(EVBACKEND_EPOLL) | unsigned(EVFLAG_NOSIGMASK));
    void* foreign_loops[1] = {impl.loop};
    if (impl.loop) {
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = foreign_loops;
    }
    info.count_threads = 1;
    info.fd_limit_per_thread = 0;
    info.timeout_secs = 20;
    info.max_http_header_data = kMaxHeaderBytes;
    if (options.idle_timeout_seconds > 0) info.retry_and_idle_policy = &impl.idle_policy;
    if (!options.static_dir.empty()) {
        lws_http_mount& mount = impl.static_mount;
        mount.mountpoint = "/app";
        mount.mountpoint_len = 4;
        mount.origin = options.static_dir.c_str();
        mount.def = "index.html";
        mount.origin_protocol = LWSMPRO_FILE;
        info.mounts = &mount;
    }
    info.ka_time = 0;
    impl.context = lws_create_context(&info);
    if (!impl.context && impl.loop) {
        log::warning("libwebsockets could not use libev (is libwebsockets-evlib-ev installed?); "
                     "using its poll(2) loop");
        ev_loop_destroy(impl.loop);
        impl.loop = nullptr;
        info.options &= ~uint64_t(LWS_SERVER_OPTION_LIBEV);
        info.foreign_loops = nullptr;
        impl.context = lws_create_context(&info);
    }
    impl.vhost = impl.context ? lws_get_vhost_by_name(impl.context, "default") : nullptr;
    if (!impl.vhost) {
        if (impl.context) lws_context_destroy(impl.context);
        impl.context = nullptr;
        throw Error("could not start libwebsockets", "Run with -v to see its log.");
    }
    lws_sul_schedule(impl.context, 0, &impl.tick_timer.sul, Impl::tick, 250 * LWS_US_PER_MS);
    impl.wake_context = impl.context;
}

void WsLayer::adopt(int fd) {
    Impl& impl = *m_impl;
    std::lock_guard lock(impl.wake_mutex);
    lws_context* context = impl.wake_context.load();
    if (!context) {
        close(fd); // stopping
        return;
    }
    impl.adopting.push_back(fd);
    if (!impl.wake_pending.exchange(true)) lws_cancel_service(context);
}

void WsLayer::run() {
    Impl& impl = *m_impl;
    if (impl.loop) {
        ev_run(impl.loop, 0); // until the tick sees a stop (ev_break)
        return;
    }
    while (!impl.stopping)
        if (lws_service(impl.context, 0) < 0) break;
}

// One pass of the loop: for close_all, which must serve the closing handshakes.
static void service_once(lws_context* context, struct ev_loop* loop) {
    if (loop)
        ev_run(loop, EVRUN_ONCE);
    else
        lws_service(context, 0);
}

void WsLayer::close_all(int code, const std::string& reason) {
    Impl& impl = *m_impl;
    if (!impl.context) return;
    for (Session* session : impl.sessions)
        impl.hub->close(*session, code, reason, {}, {});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!impl.sessions.empty() && std::chrono::steady_clock::now() < deadline)
        service_once(impl.context, impl.loop);
}

void WsLayer::stop() {
    std::lock_guard lock(m_impl->wake_mutex); // no other thread wakes a context being destroyed
    m_impl->wake_context = nullptr;
    for (int fd : m_impl->adopting)
        close(fd);
    m_impl->adopting.clear();
    if (m_impl->context) {
        lws_context_destroy(m_impl->context);
        m_impl->context = nullptr;
    }
    if (m_impl->loop) {
        ev_loop_destroy(m_impl->loop);
        m_impl->loop = nullptr;
    }
}

void WsLayer::wake(Session& session) {
    session.wake_requested = true;
    auto* wsi = static_cast<lws*>(session.transport);
    // Write now when the socket can take it: asking for a writable callback costs two epoll_ctl
    // calls and a loop pass per client, which at 10,000 clients was much of the server's time.
    // A closing session, or a socket lws still holds unsent bytes for, goes through the callback.
    if (session.close_code || lws_partial_buffered(wsi)) {
        if (session.close_code)
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, kCloseGraceSeconds);
        lws_callback_on_writable(wsi);
        return;
    }
    auto* connection = static_cast<Connection*>(lws_wsi_user(wsi));
    if (m_impl->on_writeable(wsi, *connection) < 0)
        lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

void WsLayer::wake_from_other_thread() {
    std::lock_guard lock(m_impl->wake_mutex);
    if (m_impl->wake_pending.exchange(true)) return; // a wake is on its way already
    if (lws_context* context = m_impl->wake_context.load()) lws_cancel_service(context);
}

} // namespace pgsync::serve
