// The test WebSocket client (tests/support/ws_client.h) against a real libwebsockets server: echo
// of every frame-length encoding, reassembly of fragmented messages, pings, both close handshakes,
// refused upgrades with their HTTP status and body, and http_get. The server also shows how lws
// 4.1 refuses an upgrade with a status and a body of our choosing (HTTP_CONFIRM_UPGRADE).
#include "ws_client.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <deque>
#include <libwebsockets.h>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using pgsync::test::http_get;
using pgsync::test::WsClient;
using pgsync::test::WsConnectOptions;

namespace {

// Messages the server sends in pieces of this size, so large echoes arrive fragmented.
constexpr std::size_t kFragmentBytes = 16 * 1024;

struct Outgoing {
    enum Kind { kText, kPing } kind = kText;
    std::string payload;
    std::size_t sent = 0;
};

struct Session {
    std::string incoming;
    std::deque<Outgoing> outgoing;
};

// Writes a complete HTTP response (status, content type, body) from inside a callback.
int write_http_response(lws* wsi, unsigned status, const char* content_type,
                        const std::string& body) {
    unsigned char buffer[LWS_PRE + 1024];
    unsigned char* start = buffer + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buffer + sizeof buffer;
    if (lws_add_http_common_headers(wsi, status, content_type, body.size(), &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    std::string out(LWS_PRE, '\0');
    out += body;
    int written = lws_write(wsi, reinterpret_cast<unsigned char*>(out.data()) + LWS_PRE,
                            body.size(), LWS_WRITE_HTTP_FINAL);
    return written < 0 ? -1 : 0;
}

// One lws context on 127.0.0.1, port chosen by the kernel, served by its own thread. Its protocol
// echoes text; "ping-me" makes it ping and report the pong, "close-me" makes it close with 4001.
class EchoServer {
public:
    EchoServer() {
        lws_set_log_level(LLL_ERR, nullptr);
        m_protocols[0] = {"echo", &EchoServer::callback, 0, 4096, 0, nullptr, 0};
        m_protocols[1] = {nullptr, nullptr, 0, 0, 0, nullptr, 0};
        lws_context_creation_info info;
        std::memset(&info, 0, sizeof info);
        info.port = 0;
        info.iface = "127.0.0.1";
        info.protocols = m_protocols;
        info.gid = -1;
        info.uid = -1;
        info.user = this;
        info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
        m_context.reset(lws_create_context(&info));
        if (!m_context) throw std::runtime_error("lws_create_context failed");
        m_port = lws_get_vhost_listen_port(lws_get_vhost_by_name(m_context.get(), "default"));
        m_thread = std::thread([this] {
            while (!m_stop.load())
                lws_service(m_context.get(), 0);
        });
    }
    ~EchoServer() {
        m_stop.store(true);
        lws_cancel_service(m_context.get());
        m_thread.join();
        m_context.reset(); // calls back LWS_CALLBACK_CLOSED for connections still open
    }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

    int port() const { return m_port; }

private:
    static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                        std::size_t length) {
        auto* server = static_cast<EchoServer*>(lws_context_user(lws_get_context(wsi)));
        switch (reason) {
        case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
            // The refusal recipe: write a whole response here and return 1; lws then ends the
            // HTTP transaction itself. Returning -1 would just hang up.
            char uri[256] = {};
            lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
            if (std::strcmp(uri, "/forbidden") == 0) {
                lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "no upgrades here");
                return 1;
            }
            if (std::strcmp(uri, "/unauthorized") == 0)
                return write_http_response(wsi, HTTP_STATUS_UNAUTHORIZED, "application/json",
                                           R"({"error":"token expired"})") == 0
                           ? 1
                           : -1;
            return 0;
        }
        case LWS_CALLBACK_HTTP: {
            std::string uri(static_cast<const char*>(in), length);
            if (uri == "/v1/health") {
                if (write_http_response(wsi, HTTP_STATUS_OK, "application/json",
                                        R"({"status":"ok"})") != 0)
                    return -1;
            } else if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "nothing here")) {
                return -1;
            }
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        case LWS_CALLBACK_ESTABLISHED:
            server->m_sessions[wsi] = Session{};
            return 0;
        case LWS_CALLBACK_CLOSED:
            server->m_sessions.erase(wsi);
            return 0;
        case LWS_CALLBACK_RECEIVE: {
            Session& session = server->m_sessions[wsi];
            session.incoming.append(static_cast<const char*>(in), length);
            if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0) return 0;
            std::string message = std::move(session.incoming);
            session.incoming.clear();
            if (message == "close-me") {
                unsigned char reason_text[] = "bye";
                lws_close_reason(wsi, static_cast<lws_close_status>(4001), reason_text, 3);
                return -1;
            }
            if (message == "ping-me")
                session.outgoing.push_back({Outgoing::kPing, "are you there", 0});
            else
                session.outgoing.push_back({Outgoing::kText, std::move(message), 0});
            lws_callback_on_writable(wsi);
            return 0;
        }
        case LWS_CALLBACK_RECEIVE_PONG: {
            Session& session = server->m_sessions[wsi];
            session.outgoing.push_back(
                {Outgoing::kText, "pong:" + std::string(static_cast<const char*>(in), length), 0});
            lws_callback_on_writable(wsi);
            return 0;
        }
        case LWS_CALLBACK_SERVER_WRITEABLE: {
            Session& session = server->m_sessions[wsi];
            if (session.outgoing.empty()) return 0;
            Outgoing& next = session.outgoing.front();
            std::size_t size = std::min(kFragmentBytes, next.payload.size() - next.sent);
            std::string buffer(LWS_PRE, '\0');
            buffer.append(next.payload, next.sent, size);
            bool first = next.sent == 0;
            next.sent += size;
            bool last = next.sent == next.payload.size();
            int flags = next.kind == Outgoing::kPing
                            ? LWS_WRITE_PING
                            : lws_write_ws_flags(LWS_WRITE_TEXT, first, last);
            if (lws_write(wsi, reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE, size,
                          static_cast<lws_write_protocol>(flags)) < int(size))
                return -1;
            if (last) session.outgoing.pop_front();
            if (!session.outgoing.empty()) lws_callback_on_writable(wsi);
            return 0;
        }
        default:
            return lws_callback_http_dummy(wsi, reason, user, in, length);
        }
    }

    // Declared first so they outlive the context, whose destruction still calls back.
    std::map<lws*, Session> m_sessions; // touched only by the service thread, then by teardown
    lws_protocols m_protocols[2];
    std::unique_ptr<lws_context, decltype(&lws_context_destroy)> m_context{nullptr,
                                                                           lws_context_destroy};
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    int m_port = 0;
};

WsClient connect_to(const EchoServer& server, const std::string& path = "/") {
    auto result = WsClient::connect("127.0.0.1", server.port(), path);
    INFO(result.error);
    REQUIRE(result.ok());
    CHECK(result.status == 101);
    return std::move(*result.client);
}

std::string pattern(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        text[i] = char('a' + (i * 7 + i / 251) % 26);
    return text;
}

} // namespace

TEST_CASE("WsClient echoes payloads of every frame-length encoding", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    // 0..125: 7-bit length; 126..65535: 16-bit; above: 64-bit. The server answers anything over
    // 16 KB in fragments, which receive_text reassembles.
    for (std::size_t size :
         {std::size_t(0), std::size_t(1), std::size_t(125), std::size_t(126), std::size_t(65535),
          std::size_t(65536), std::size_t(70000), std::size_t(1024 * 1024)}) {
        INFO("payload of " << size << " bytes");
        std::string text = pattern(size);
        REQUIRE(client.send_text(text));
        auto echoed = client.receive_text(10000);
        REQUIRE(echoed);
        CHECK(echoed->size() == size);
        CHECK(*echoed == text);
    }
    CHECK_FALSE(client.closed());
}

TEST_CASE("WsClient keeps messages apart when several arrive at once", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    for (int i = 0; i < 20; ++i)
        REQUIRE(client.send_text("message " + std::to_string(i)));
    for (int i = 0; i < 20; ++i)
        CHECK(client.receive_text(5000) == "message " + std::to_string(i));
}

TEST_CASE("WsClient receive_text times out with nothing to read and stays usable", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    CHECK_FALSE(client.receive_text(100));
    CHECK_FALSE(client.closed());
    REQUIRE(client.send_text("still here"));
    CHECK(client.receive_text(5000) == "still here");
}

TEST_CASE("WsClient answers a server ping with a pong carrying its payload", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    REQUIRE(client.send_text("ping-me"));
    CHECK(client.receive_text(5000) == "pong:are you there");
}

TEST_CASE("WsClient close() completes the close handshake", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    client.close(1000, "done");
    CHECK(client.closed());
    REQUIRE(client.close_info());
    CHECK(client.close_info()->code == 1000);
}

TEST_CASE("WsClient reports a server-initiated close with its code and reason", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    REQUIRE(client.send_text("close-me"));
    CHECK_FALSE(client.receive_text(5000));
    CHECK(client.closed());
    REQUIRE(client.close_info());
    CHECK(client.close_info()->code == 4001);
    CHECK(client.close_info()->reason == "bye");
}

TEST_CASE("WsClient send_raw puts bytes on the wire unchanged", "[ws_client]") {
    EchoServer server;
    WsClient client = connect_to(server);
    // A correctly masked frame built by hand is echoed like any other.
    std::string masked = "\x81\x82\x01\x02\x03\x04";
    masked += char('h' ^ 0x01);
    masked += char('i' ^ 0x02);
    REQUIRE(client.send_raw(masked));
    CHECK(client.receive_text(5000) == "hi");
    // A frame with a reserved opcode (0x3) is a protocol error: lws closes with 1002. (lws 4.1
    // does not refuse unmasked client frames, so those make no test of the server's strictness.)
    REQUIRE(client.send_raw(std::string("\x83\x80\x00\x00\x00\x00", 6)));
    CHECK_FALSE(client.receive_text(5000));
    CHECK(client.closed());
    REQUIRE(client.close_info());
    CHECK(client.close_info()->code == 1002);
}

TEST_CASE("WsClient returns the status and body of a refused upgrade", "[ws_client]") {
    EchoServer server;
    auto forbidden = WsClient::connect("127.0.0.1", server.port(), "/forbidden");
    CHECK_FALSE(forbidden.ok());
    CHECK(forbidden.status == 403);
    CHECK(forbidden.body.find("no upgrades here") != std::string::npos);

    auto unauthorized = WsClient::connect("127.0.0.1", server.port(), "/unauthorized");
    CHECK_FALSE(unauthorized.ok());
    CHECK(unauthorized.status == 401);
    CHECK(unauthorized.body == R"({"error":"token expired"})");
    CHECK(unauthorized.error == "upgrade refused with HTTP status 401");

    // The refusals did not disturb the server.
    WsClient client = connect_to(server, "/anything?token=x");
    REQUIRE(client.send_text("after refusals"));
    CHECK(client.receive_text(5000) == "after refusals");
}

TEST_CASE("WsClient reports a port with no listener as an error, not a status", "[ws_client]") {
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(probe); // bound but never listening: the port now refuses connections
    auto result = WsClient::connect("127.0.0.1", ntohs(address.sin_port), "/", {}, 1000);
    CHECK_FALSE(result.ok());
    CHECK(result.status == 0);
    CHECK(result.error.find("Connection refused") != std::string::npos);
}

TEST_CASE("WsClient receive_buffer_bytes shrinks SO_RCVBUF", "[ws_client]") {
    EchoServer server;
    auto result =
        WsClient::connect("127.0.0.1", server.port(), "/", {}, WsConnectOptions{5000, 4096});
    REQUIRE(result.ok());
    int size = 0;
    socklen_t length = sizeof size;
    REQUIRE(::getsockopt(result.client->fd(), SOL_SOCKET, SO_RCVBUF, &size, &length) == 0);
    CHECK(size <= 2 * 4096); // Linux reports twice what was asked for
    REQUIRE(result.client->send_text("small"));
    CHECK(result.client->receive_text(5000) == "small");
}

TEST_CASE("http_get returns status, headers and body", "[ws_client]") {
    EchoServer server;
    auto health = http_get("127.0.0.1", server.port(), "/v1/health");
    INFO(health.error);
    CHECK(health.status == 200);
    CHECK(health.header("content-type") == "application/json");
    CHECK(health.body == R"({"status":"ok"})");

    auto missing = http_get("127.0.0.1", server.port(), "/nope");
    CHECK(missing.status == 404);
    CHECK(missing.body.find("nothing here") != std::string::npos);
}
