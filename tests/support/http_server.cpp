// The test HTTP/1.1 server: plain blocking sockets, one thread per connection.
#include "http_server.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace pgsync::test {

namespace {

std::string lower(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return text;
}

std::string trim(const std::string& text) {
    const size_t start = text.find_first_not_of(" \t");
    if (start == std::string::npos) return {};
    return text.substr(start, text.find_last_not_of(" \t") - start + 1);
}

bool write_all(int fd, const std::string& bytes) {
    size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        written += size_t(n);
    }
    return true;
}

const char* status_text(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

// Reads one request from fd into request, with `buffered` holding bytes read past the previous
// one. False at EOF or on an error before a whole request.
bool read_request(int fd, std::string& buffered, HttpServerRequest& request) {
    char chunk[16384];
    size_t header_end;
    while ((header_end = buffered.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buffered.append(chunk, size_t(n));
    }
    const std::string head = buffered.substr(0, header_end);
    buffered.erase(0, header_end + 4);
    request = {};
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const size_t space = request_line.find(' ');
    request.method = request_line.substr(0, space);
    request.path = request_line.substr(space + 1, request_line.rfind(' ') - space - 1);
    size_t content_length = 0;
    while (line_end != std::string::npos) {
        const size_t start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string line = head.substr(start, line_end - start);
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = lower(trim(line.substr(0, colon)));
        std::string value = trim(line.substr(colon + 1));
        if (name == "content-length") content_length = std::stoul(value);
        if (name == "expect" && lower(value) == "100-continue" &&
            !write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n"))
            return false;
        request.headers.emplace_back(std::move(name), std::move(value));
    }
    while (buffered.size() < content_length) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buffered.append(chunk, size_t(n));
    }
    request.body = buffered.substr(0, content_length);
    buffered.erase(0, content_length);
    return true;
}

} // namespace

HttpServer::HttpServer(Handler handler) : m_handler(std::move(handler)) {
    m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_listen_fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    const int one = 1;
    ::setsockopt(m_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(m_listen_fd, 128) != 0 ||
        ::getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const std::string error = std::strerror(errno);
        ::close(m_listen_fd);
        throw std::runtime_error("could not listen on 127.0.0.1: " + error);
    }
    m_port = ntohs(address.sin_port);
    m_accept_thread = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        for (int fd : m_open_fds)
            ::shutdown(fd, SHUT_RDWR); // wakes the thread blocked in recv
    }
    m_changed.notify_all();
    ::shutdown(m_listen_fd, SHUT_RDWR); // wakes accept (Linux)
    m_accept_thread.join();
    ::close(m_listen_fd);
    // No thread is added once the accept thread has ended.
    for (std::thread& thread : m_threads)
        thread.join();
}

std::string HttpServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
}

size_t HttpServer::requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
}

size_t HttpServer::connections() const {
    std::lock_guard lock(m_mutex);
    return m_connections;
}

size_t HttpServer::max_concurrent() const {
    std::lock_guard lock(m_mutex);
    return m_max_concurrent;
}

std::vector<std::string> HttpServer::bodies() const {
    std::lock_guard lock(m_mutex);
    return m_bodies;
}

bool HttpServer::wait_for_requests(size_t count, std::chrono::milliseconds limit) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, limit, [&] { return m_requests >= count; });
}

void HttpServer::accept_loop() {
    for (;;) {
        const int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0 && errno == EINTR) continue;
        std::lock_guard lock(m_mutex);
        if (fd < 0 || m_stopping) {
            if (fd >= 0) ::close(fd);
            return;
        }
        ++m_connections;
        m_open_fds.push_back(fd);
        m_threads.emplace_back([this, fd] { serve(fd); });
    }
}

void HttpServer::serve(int fd) {
    std::string buffered;
    HttpServerRequest request;
    while (read_request(fd, buffered, request)) {
        {
            std::lock_guard lock(m_mutex);
            ++m_requests;
            m_max_concurrent = std::max(m_max_concurrent, ++m_current);
            m_bodies.push_back(request.body);
        }
        m_changed.notify_all();
        HttpServerResponse response;
        try {
            response = m_handler(request);
        } catch (
            const std::exception& e) { // a test's handler choking on a request it did not expect
            response = {500, std::string("handler failed: ") + e.what(), "text/plain"};
        }
        bool stopping;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait_for(lock, response.delay, [&] { return m_stopping; });
            stopping = m_stopping;
            --m_current;
        }
        bool close = response.close || stopping;
        for (const auto& [name, value] : request.headers)
            if (name == "connection" && lower(value) == "close") close = true;
        std::string head = "HTTP/1.1 " + std::to_string(response.status) + ' ' +
                           status_text(response.status) +
                           "\r\nContent-Type: " + response.content_type +
                           "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\n";
        if (close) head += "Connection: close\r\n";
        if (stopping || !write_all(fd, head + "\r\n" + response.body) || close) break;
    }
    std::lock_guard lock(m_mutex);
    m_open_fds.erase(std::find(m_open_fds.begin(), m_open_fds.end(), fd));
    ::close(fd);
}

int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

} // namespace pgsync::test
