// A small blocking RFC 6455 client (no TLS, no extensions) and an HTTP GET, for tests that drive
// pgsync-serve over real sockets. Every wait has a deadline, so a silent server fails a test
// instead of hanging the suite.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsync::test {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
    int status = 0; // 0: no HTTP response at all (see error)
    HttpHeaders headers;
    std::string body;
    std::string error; // why there is no response: connection refused, timed out, ...

    // The first header of that name (case-insensitive), or nullopt.
    std::optional<std::string> header(std::string_view name) const;
};

// A GET with "Connection: close"; the body is read to its Content-Length, through chunked
// encoding, or to EOF.
HttpResponse http_get(const std::string& host, int port, const std::string& path,
                      const HttpHeaders& headers = {}, int timeout_ms = 5000);
// The same with any method (HEAD, DELETE, OPTIONS, ...) and, when given, a body (its
// Content-Length added).
HttpResponse http_request(const std::string& method, const std::string& host, int port,
                          const std::string& path, const HttpHeaders& headers = {},
                          int timeout_ms = 5000, const std::string& body = {});
// A POST of a JSON body.
inline HttpResponse http_post(const std::string& host, int port, const std::string& path,
                              const std::string& json_body, int timeout_ms = 10000) {
    return http_request("POST", host, port, path, {{"Content-Type", "application/json"}},
                        timeout_ms, json_body);
}

// The payloads of a run of unmasked text frames, as a server writes them (serve/hub/output.h);
// fails the test on anything else.
std::vector<std::string> server_text_payloads(std::string_view wire);

struct WsConnectOptions {
    int timeout_ms = 5000; // for the connect and handshake, and later for each send
    // > 0: SO_RCVBUF set before connect, so a client that stops reading fills up quickly (Linux
    // doubles the value and enforces a minimum of a few KB).
    int receive_buffer_bytes = 0;
};

struct WsConnectResult;

class WsClient {
public:
    struct Close {
        int code = 0; // 1005 when the close frame carried no code
        std::string reason;
    };

    static WsConnectResult connect(const std::string& host, int port,
                                   const std::string& path_and_query,
                                   const HttpHeaders& headers = {}, int timeout_ms = 5000);
    static WsConnectResult connect(const std::string& host, int port,
                                   const std::string& path_and_query, const HttpHeaders& headers,
                                   const WsConnectOptions& options);

    WsClient(WsClient&& other) noexcept;
    WsClient& operator=(WsClient&& other) noexcept;
    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;
    ~WsClient();

    // One masked text frame. False when the peer has gone or the bytes could not all be written
    // within the I/O timeout; the connection is then unusable.
    bool send_text(std::string_view text);
    // Bytes exactly as given, for malformed-frame tests. Same result as send_text.
    bool send_raw(std::string_view bytes);

    // The next complete text message, reassembled from fragments; answers pings on the way.
    // nullopt on timeout (the connection stays usable, a partial message is kept), on a close
    // frame or on EOF (closed() then says which). Throws std::runtime_error on a protocol
    // violation by the server (masked frame, bad opcode, binary message).
    std::optional<std::string> receive_text(int timeout_ms);

    // True once a close frame or EOF has been received.
    bool closed() const { return m_closed; }
    // The server's close frame, if one was received (nullopt after a bare EOF).
    const std::optional<Close>& close_info() const { return m_close; }

    // Sends a close frame (unless one was sent already) and waits up to the I/O timeout for the
    // server's, then shuts the socket down. close_info() then holds the server's reply.
    void close(int code = 1000, std::string_view reason = {});

    int fd() const { return m_fd; }

private:
    WsClient(int fd, std::string already_received, int io_timeout_ms);
    bool send_frame(int opcode, std::string_view payload);
    bool write_all(std::string_view bytes);
    // Reads more bytes into m_buffer; false on timeout or EOF (EOF sets m_closed).
    bool read_more(int64_t deadline_ms);

    int m_fd = -1;
    std::string m_buffer;  // received bytes not yet parsed
    std::string m_message; // fragments of the message in progress
    bool m_in_message = false;
    bool m_closed = false;
    bool m_close_sent = false;
    std::optional<Close> m_close;
    int m_io_timeout_ms = 5000;
};

struct WsConnectResult {
    std::optional<WsClient> client; // set when the server answered 101 and the accept key matched
    // The server's answer to the upgrade: 101, or a refusal (e.g. 401) with its body.
    int status = 0;
    HttpHeaders headers;
    std::string body;
    std::string error; // no usable connection: refused, timed out, bad accept key, ...

    bool ok() const { return client.has_value(); }
};

} // namespace pgsync::test
