// The blocking WebSocket client and HTTP GET of ws_client.h: non-blocking sockets driven by poll()
// with deadlines, RFC 6455 framing, and OpenSSL's SHA-1 for the Sec-WebSocket-Accept check.
#include "ws_client.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <random>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace pgsync::test {

std::vector<std::string> server_text_payloads(std::string_view wire) {
    std::vector<std::string> out;
    for (size_t pos = 0; pos < wire.size();) {
        REQUIRE(wire.size() - pos >= 2);
        REQUIRE(uint8_t(wire[pos]) == 0x81); // FIN, text, and no mask bit below
        size_t length = uint8_t(wire[pos + 1]), header = 2;
        if (length == 126 || length == 127) {
            header = length == 126 ? 4 : 10;
            REQUIRE(wire.size() - pos >= header);
            length = 0;
            for (size_t i = 2; i < header; ++i)
                length = (length << 8) | uint8_t(wire[pos + i]);
        }
        REQUIRE(wire.size() - pos - header >= length);
        out.emplace_back(wire.substr(pos + header, length));
        pos += header + length;
    }
    return out;
}

namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t kMaxHeadBytes = 64 * 1024;

enum Opcode : int {
    kContinuation = 0x0,
    kText = 0x1,
    kBinary = 0x2,
    kClose = 0x8,
    kPing = 0x9,
    kPong = 0xA,
};

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : m_fd(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

// Waits until fd is ready for events or the deadline passes.
bool wait_for(int fd, short events, int64_t deadline_ms) {
    while (true) {
        int64_t remaining = deadline_ms - now_ms();
        if (remaining < 0) return false;
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, int(std::min<int64_t>(remaining, 1 << 30)));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

bool write_all_until(int fd, std::string_view bytes, int64_t deadline_ms) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            bytes.remove_prefix(std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_for(fd, POLLOUT, deadline_ms)) return false;
            continue;
        }
        return false; // EPIPE, ECONNRESET, ...
    }
    return true;
}

enum class ReadOutcome { kData, kTimeout, kEof };

// Appends what the socket has to buffer, waiting until the deadline for at least one byte.
ReadOutcome read_some(int fd, std::string& buffer, int64_t deadline_ms) {
    char chunk[64 * 1024];
    while (true) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            buffer.append(chunk, std::size_t(n));
            return ReadOutcome::kData;
        }
        if (n == 0) return ReadOutcome::kEof;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return ReadOutcome::kEof; // reset
        if (!wait_for(fd, POLLIN, deadline_ms)) return ReadOutcome::kTimeout;
    }
}

// A connected non-blocking TCP socket, or -1 with error set.
int open_socket(const std::string& host, int port, int receive_buffer_bytes, int64_t deadline_ms,
                std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        error = "could not resolve \"" + host + "\": " + gai_strerror(rc);
        return -1;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
    error = "could not connect to " + host + ":" + service;
    for (addrinfo* address = found; address; address = address->ai_next) {
        UniqueFd fd(::socket(address->ai_family,
                             address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             address->ai_protocol));
        if (fd.get() < 0) continue;
        if (receive_buffer_bytes > 0)
            ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                         sizeof receive_buffer_bytes);
        int one = 1;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd.get(), address->ai_addr, address->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                error += std::string(": ") + std::strerror(errno);
                continue;
            }
            if (!wait_for(fd.get(), POLLOUT, deadline_ms)) {
                error += ": timed out";
                continue;
            }
            int so_error = 0;
            socklen_t length = sizeof so_error;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &length);
            if (so_error != 0) {
                error += std::string(": ") + std::strerror(so_error);
                continue;
            }
        }
        error.clear();
        return fd.release();
    }
    return -1;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    return text;
}

// Reads the status line and headers into response; bytes after them stay in buffer.
bool read_head(int fd, std::string& buffer, HttpResponse& response, int64_t deadline_ms) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (buffer.size() > kMaxHeadBytes) {
            response.error = "response head longer than 64 KB";
            return false;
        }
        ReadOutcome outcome = read_some(fd, buffer, deadline_ms);
        if (outcome == ReadOutcome::kTimeout) {
            response.error = "timed out waiting for the response head";
            return false;
        }
        if (outcome == ReadOutcome::kEof) {
            response.error = "connection closed before a complete response head";
            return false;
        }
    }
    std::string_view head(buffer.data(), end);
    std::size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.substr(0, 5) != "HTTP/" || status_line.find(' ') == std::string_view::npos) {
        response.error = "not an HTTP response: " + std::string(status_line);
        return false;
    }
    std::string_view code = status_line.substr(status_line.find(' ') + 1, 3);
    response.status = std::atoi(std::string(code).c_str());
    while (line_end != std::string_view::npos) {
        std::size_t start = line_end + 2;
        line_end = head.find("\r\n", start);
        std::string_view line = head.substr(
            start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                      std::string(trim(line.substr(colon + 1))));
    }
    buffer.erase(0, end + 4);
    return true;
}

// Reads until buffer holds at least size bytes.
bool fill_to(int fd, std::string& buffer, std::size_t size, int64_t deadline_ms) {
    while (buffer.size() < size)
        if (read_some(fd, buffer, deadline_ms) != ReadOutcome::kData) return false;
    return true;
}

void read_body(int fd, std::string& buffer, HttpResponse& response, int64_t deadline_ms) {
    auto length = response.header("Content-Length");
    auto encoding = response.header("Transfer-Encoding");
    if (length) {
        std::size_t size = std::strtoull(length->c_str(), nullptr, 10);
        if (!fill_to(fd, buffer, size, deadline_ms))
            response.error = "connection closed or timed out inside the body";
        response.body = buffer.substr(0, std::min(size, buffer.size()));
        return;
    }
    if (encoding && iequals(*encoding, "chunked")) {
        std::size_t position = 0;
        while (true) {
            std::size_t line_end;
            while ((line_end = buffer.find("\r\n", position)) == std::string::npos)
                if (read_some(fd, buffer, deadline_ms) != ReadOutcome::kData) {
                    response.error = "connection closed or timed out inside a chunked body";
                    return;
                }
            std::size_t size = std::strtoull(buffer.c_str() + position, nullptr, 16);
            position = line_end + 2;
            if (!fill_to(fd, buffer, position + size + 2, deadline_ms)) {
                response.error = "connection closed or timed out inside a chunked body";
                return;
            }
            if (size == 0) return;
            response.body.append(buffer, position, size);
            position += size + 2;
        }
    }
    while (read_some(fd, buffer, deadline_ms) == ReadOutcome::kData) {
    }
    response.body = buffer;
}

std::string request_text(const std::string& host, int port, const std::string& path,
                         const HttpHeaders& headers, std::string_view extra,
                         std::string_view method = "GET") {
    std::string text = std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                       "\r\n" + std::string(extra);
    for (const auto& [name, value] : headers)
        text += name + ": " + value + "\r\n";
    return text + "\r\n";
}

std::string base64(const unsigned char* bytes, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, int(size));
    out.resize(std::size_t(n));
    return out;
}

std::mt19937& random_engine() {
    thread_local std::mt19937 engine{std::random_device{}()};
    return engine;
}

} // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (iequals(key, name)) return value;
    return std::nullopt;
}

HttpResponse http_get(const std::string& host, int port, const std::string& path,
                      const HttpHeaders& headers, int timeout_ms) {
    return http_request("GET", host, port, path, headers, timeout_ms);
}

HttpResponse http_request(const std::string& method, const std::string& host, int port,
                          const std::string& path, const HttpHeaders& headers, int timeout_ms,
                          const std::string& body) {
    HttpResponse response;
    int64_t deadline = now_ms() + timeout_ms;
    UniqueFd fd(open_socket(host, port, 0, deadline, response.error));
    if (fd.get() < 0) return response;
    std::string extra = "Connection: close\r\n";
    if (!body.empty()) extra += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (!write_all_until(fd.get(),
                         request_text(host, port, path, headers, extra, method) + body,
                         deadline)) {
        response.error = "could not send the request";
        return response;
    }
    std::string buffer;
    // A HEAD answer, a 204 and a 304 have no body whatever their headers say.
    if (read_head(fd.get(), buffer, response, deadline) && method != "HEAD" &&
        response.status != 204 && response.status != 304)
        read_body(fd.get(), buffer, response, deadline);
    return response;
}

WsConnectResult WsClient::connect(const std::string& host, int port,
                                  const std::string& path_and_query, const HttpHeaders& headers,
                                  int timeout_ms) {
    WsConnectOptions options;
    options.timeout_ms = timeout_ms;
    return connect(host, port, path_and_query, headers, options);
}

WsConnectResult WsClient::connect(const std::string& host, int port,
                                  const std::string& path_and_query, const HttpHeaders& headers,
                                  const WsConnectOptions& options) {
    WsConnectResult result;
    int64_t deadline = now_ms() + options.timeout_ms;
    UniqueFd fd(open_socket(host, port, options.receive_buffer_bytes, deadline, result.error));
    if (fd.get() < 0) return result;

    unsigned char nonce[16];
    for (unsigned char& byte : nonce)
        byte = static_cast<unsigned char>(random_engine()());
    std::string key = base64(nonce, sizeof nonce);
    std::string request = request_text(host, port, path_and_query, headers,
                                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                                           key + "\r\n");
    if (!write_all_until(fd.get(), request, deadline)) {
        result.error = "could not send the upgrade request";
        return result;
    }

    std::string buffer;
    HttpResponse response;
    bool have_head = read_head(fd.get(), buffer, response, deadline);
    result.status = response.status;
    result.headers = response.headers;
    if (!have_head) {
        result.error = response.error;
        return result;
    }
    if (response.status != 101) {
        read_body(fd.get(), buffer, response, deadline);
        result.body = std::move(response.body);
        result.error = "upgrade refused with HTTP status " + std::to_string(response.status);
        return result;
    }

    std::string accept_input = key + std::string(kWebSocketGuid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(accept_input.data()), accept_input.size(), digest);
    auto accept = response.header("Sec-WebSocket-Accept");
    auto upgrade = response.header("Upgrade");
    if (!accept || *accept != base64(digest, sizeof digest)) {
        result.error = "bad or missing Sec-WebSocket-Accept";
        return result;
    }
    if (!upgrade || !iequals(*upgrade, "websocket")) {
        result.error = "101 response without \"Upgrade: websocket\"";
        return result;
    }
    result.client.emplace(WsClient(fd.release(), std::move(buffer), options.timeout_ms));
    return result;
}

WsClient::WsClient(int fd, std::string already_received, int io_timeout_ms)
    : m_fd(fd), m_buffer(std::move(already_received)), m_io_timeout_ms(io_timeout_ms) {}

WsClient::WsClient(WsClient&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1)), m_buffer(std::move(other.m_buffer)),
      m_message(std::move(other.m_message)), m_in_message(other.m_in_message),
      m_closed(other.m_closed), m_close_sent(other.m_close_sent), m_close(std::move(other.m_close)),
      m_io_timeout_ms(other.m_io_timeout_ms) {}

WsClient& WsClient::operator=(WsClient&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = std::exchange(other.m_fd, -1);
        m_buffer = std::move(other.m_buffer);
        m_message = std::move(other.m_message);
        m_in_message = other.m_in_message;
        m_closed = other.m_closed;
        m_close_sent = other.m_close_sent;
        m_close = std::move(other.m_close);
        m_io_timeout_ms = other.m_io_timeout_ms;
    }
    return *this;
}

WsClient::~WsClient() {
    if (m_fd >= 0) ::close(m_fd);
}

bool WsClient::write_all(std::string_view bytes) {
    return m_fd >= 0 && write_all_until(m_fd, bytes, now_ms() + m_io_timeout_ms);
}

bool WsClient::send_raw(std::string_view bytes) {
    return write_all(bytes);
}

bool WsClient::send_text(std::string_view text) {
    return send_frame(kText, text);
}

bool WsClient::send_frame(int opcode, std::string_view payload) {
    std::string frame;
    frame.reserve(payload.size() + 14);
    frame += char(0x80 | opcode);
    if (payload.size() < 126) {
        frame += char(0x80 | payload.size());
    } else if (payload.size() <= 0xFFFF) {
        frame += char(0x80 | 126);
        for (int shift = 8; shift >= 0; shift -= 8)
            frame += char((payload.size() >> shift) & 0xFF);
    } else {
        frame += char(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            frame += char((uint64_t(payload.size()) >> shift) & 0xFF);
    }
    uint32_t mask_word = random_engine()();
    char mask[4];
    std::memcpy(mask, &mask_word, 4);
    frame.append(mask, 4);
    std::size_t start = frame.size();
    frame.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i)
        frame[start + i] ^= mask[i % 4];
    return write_all(frame);
}

bool WsClient::read_more(int64_t deadline_ms) {
    ReadOutcome outcome = read_some(m_fd, m_buffer, deadline_ms);
    if (outcome == ReadOutcome::kEof) m_closed = true;
    return outcome == ReadOutcome::kData;
}

std::optional<std::string> WsClient::receive_text(int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (!m_closed && m_fd >= 0) {
        // Parse one frame from the front of m_buffer, reading more until it is complete.
        std::size_t header_size = 2;
        if (m_buffer.size() >= 2) {
            int length7 = static_cast<unsigned char>(m_buffer[1]) & 0x7F;
            header_size += length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
        }
        uint64_t payload_size = 0;
        if (m_buffer.size() >= header_size) {
            int length7 = static_cast<unsigned char>(m_buffer[1]) & 0x7F;
            if (length7 < 126)
                payload_size = uint64_t(length7);
            else
                for (std::size_t i = 2; i < header_size; ++i)
                    payload_size = (payload_size << 8) | static_cast<unsigned char>(m_buffer[i]);
        }
        if (m_buffer.size() < header_size || m_buffer.size() - header_size < payload_size) {
            if (!read_more(deadline)) return std::nullopt;
            continue;
        }

        auto first = static_cast<unsigned char>(m_buffer[0]);
        auto second = static_cast<unsigned char>(m_buffer[1]);
        bool fin = first & 0x80;
        int opcode = first & 0x0F;
        if (first & 0x70)
            throw std::runtime_error("websocket frame from the server has RSV bits set");
        if (second & 0x80) throw std::runtime_error("websocket frame from the server is masked");
        if (opcode >= 0x8 && (!fin || payload_size > 125))
            throw std::runtime_error("websocket control frame is fragmented or too long");
        std::string payload = m_buffer.substr(header_size, std::size_t(payload_size));
        m_buffer.erase(0, header_size + std::size_t(payload_size));

        switch (opcode) {
        case kText:
        case kContinuation:
            if ((opcode == kText) == m_in_message)
                throw std::runtime_error(opcode == kText
                                             ? "websocket text frame inside a fragmented message"
                                             : "websocket continuation frame with no message");
            if (fin) {
                std::string message = m_in_message ? std::move(m_message) + payload : payload;
                m_message.clear();
                m_in_message = false;
                return message;
            }
            m_message += payload;
            m_in_message = true;
            break;
        case kBinary:
            throw std::runtime_error("websocket binary message from the server");
        case kPing:
            send_frame(kPong, payload);
            break;
        case kPong:
            break;
        case kClose: {
            Close close{1005, {}};
            if (payload.size() >= 2) {
                close.code = (static_cast<unsigned char>(payload[0]) << 8) |
                             static_cast<unsigned char>(payload[1]);
                close.reason = payload.substr(2);
            }
            m_close = close;
            m_closed = true;
            if (!m_close_sent) {
                m_close_sent = true;
                send_frame(kClose, payload.substr(0, 2));
            }
            return std::nullopt;
        }
        default:
            throw std::runtime_error("websocket frame with unknown opcode " +
                                     std::to_string(opcode));
        }
    }
    return std::nullopt;
}

void WsClient::close(int code, std::string_view reason) {
    if (m_fd < 0) return;
    if (!m_close_sent && !m_closed) {
        std::string payload{char((code >> 8) & 0xFF), char(code & 0xFF)};
        payload.append(reason.substr(0, 123));
        m_close_sent = true;
        send_frame(kClose, payload);
    }
    int64_t deadline = now_ms() + m_io_timeout_ms;
    while (!m_closed) {
        int64_t remaining = deadline - now_ms();
        if (remaining <= 0) break;
        receive_text(int(remaining)); // messages still in flight are dropped
    }
    ::shutdown(m_fd, SHUT_RDWR);
}

} // namespace pgsync::test
