// The app's row webhook for bench/live_queries: an HTTP/1.1 keep-alive server in one epoll loop
// that answers every POST with {"delivery_authorized":true} (an array of as many for a batch)
// after a fixed delay, and counts requests and checks; GET /stats returns the counts. With
// --load-test it is its own client instead, to measure what it can answer per second.
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <vector>

#include "latency.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr std::string_view kVerdict = "{\"delivery_authorized\":true}";

struct Connection {
    int fd = -1;
    std::string in;
    std::string out;
    bool want_write = false;
};

// An answer due at `due` (CLOCK_MONOTONIC, ns) on connection `fd` (checked against its slot).
struct Due {
    int64_t due = 0;
    int fd = -1;
    std::string response;
};

int64_t monotonic_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// The number of elements of a JSON array body (top-level values), or 0 when it is not an array.
size_t array_length(std::string_view body) {
    size_t at = body.find_first_not_of(" \t\r\n");
    if (at == std::string_view::npos || body[at] != '[') return 0;
    size_t depth = 0, count = 0;
    bool in_string = false, escaped = false, expecting = true; // a value may start next
    for (; at < body.size(); ++at) {
        const char c = body[at];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (depth == 1 && c == ',') {
            expecting = true;
            continue;
        }
        if (depth == 1 && c == ']') break;
        if (depth == 1 && expecting) {
            ++count;
            expecting = false;
        }
        if (c == '"') in_string = true;
        else if (c == '[' || c == '{') ++depth;
        else if (c == ']' || c == '}') --depth;
    }
    return count;
}

class Server {
public:
    Server(int delay_us, std::string listen, std::string ready_file)
        : m_delay_ns(int64_t(delay_us) * 1000), m_listen(std::move(listen)),
          m_ready_file(std::move(ready_file)) {}
    int run();

private:
    void accept_all();
    void on_readable(int fd);
    bool handle_requests(Connection& connection);
    void flush(Connection& connection);
    void close_connection(int fd);
    void arm_timer();
    void send_due();

    int64_t m_delay_ns;
    std::string m_listen, m_ready_file;
    int m_epoll = -1, m_listener = -1, m_timer = -1;
    std::vector<Connection> m_connections; // by fd
    std::deque<Due> m_due;                  // in due order: the delay is the same for all
    uint64_t m_requests = 0, m_checks = 0, m_connections_opened = 0;
    double m_start = 0;
};

int Server::run() {
    std::string host = m_listen.substr(0, m_listen.rfind(':'));
    int port = std::atoi(m_listen.substr(m_listen.rfind(':') + 1).c_str());
    m_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(m_listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(uint16_t(port));
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    if (::bind(m_listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(m_listener, 1024) != 0) {
        std::fprintf(stderr, "row_webhook: error: could not listen on \"%s\": %s\n",
                     m_listen.c_str(), std::strerror(errno));
        return 1;
    }
    socklen_t length = sizeof address;
    ::getsockname(m_listener, reinterpret_cast<sockaddr*>(&address), &length);
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    m_timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = m_listener;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_listener, &event);
    event.data.fd = m_timer;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_timer, &event);
    const std::string bound = host + ":" + std::to_string(ntohs(address.sin_port));
    if (!m_ready_file.empty()) {
        FILE* ready = std::fopen(m_ready_file.c_str(), "w");
        if (ready) {
            std::fprintf(ready, "%s\n", bound.c_str());
            std::fclose(ready);
        }
    }
    std::fprintf(stderr, "row_webhook: listening on %s, answering after %.3f ms\n", bound.c_str(),
                 double(m_delay_ns) / 1e6);
    m_start = monotonic_s();
    std::vector<epoll_event> events(1024);
    while (!g_stop) {
        int n = ::epoll_wait(m_epoll, events.data(), int(events.size()), 1000);
        if (n < 0 && errno != EINTR) return 1;
        for (int i = 0; i < n; ++i) {
            const int fd = events[size_t(i)].data.fd;
            if (fd == m_listener) accept_all();
            else if (fd == m_timer) send_due();
            else {
                if (events[size_t(i)].events & EPOLLOUT) flush(m_connections[size_t(fd)]);
                if (events[size_t(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
                    on_readable(fd);
            }
        }
    }
    std::printf("{\"requests\":%llu,\"checks\":%llu,\"connections\":%llu}\n",
                (unsigned long long)m_requests, (unsigned long long)m_checks,
                (unsigned long long)m_connections_opened);
    return 0;
}

void Server::accept_all() {
    while (true) {
        int fd = ::accept4(m_listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (size_t(fd) >= m_connections.size()) m_connections.resize(size_t(fd) + 1);
        m_connections[size_t(fd)] = Connection{fd, {}, {}, false};
        ++m_connections_opened;
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP;
        event.data.fd = fd;
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
    }
}

void Server::on_readable(int fd) {
    Connection& connection = m_connections[size_t(fd)];
    char buffer[65536];
    while (connection.fd >= 0) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            connection.in.append(buffer, size_t(n));
            if (!handle_requests(connection)) return close_connection(fd);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return close_connection(fd);
    }
}

// Takes every whole request from connection.in; false on a request it cannot read.
bool Server::handle_requests(Connection& connection) {
    while (true) {
        const size_t head_end = connection.in.find("\r\n\r\n");
        if (head_end == std::string::npos) return connection.in.size() < 65536;
        std::string_view head(connection.in.data(), head_end);
        size_t body_length = 0;
        for (size_t at = 0; at < head.size();) {
            size_t end = head.find("\r\n", at);
            if (end == std::string_view::npos) end = head.size();
            std::string_view line = head.substr(at, end - at);
            if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
                body_length = size_t(std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10));
            at = end + 2;
        }
        if (connection.in.size() < head_end + 4 + body_length) return true;
        std::string_view body(connection.in.data() + head_end + 4, body_length);
        std::string response;
        if (head.starts_with("GET /stats")) {
            char text[256];
            int size = std::snprintf(text, sizeof text,
                                     "{\"requests\":%llu,\"checks\":%llu,\"connections\":%llu,"
                                     "\"seconds\":%.3f}",
                                     (unsigned long long)m_requests, (unsigned long long)m_checks,
                                     (unsigned long long)m_connections_opened, monotonic_s() - m_start);
            response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(size) + "\r\n\r\n" + std::string(text, size_t(size));
            connection.out += response;
            flush(connection);
        } else {
            std::string answer;
            const size_t batch = array_length(body);
            if (batch == 0) {
                answer = kVerdict;
                ++m_checks;
            } else {
                answer = "[";
                for (size_t i = 0; i < batch; ++i) {
                    if (i) answer += ',';
                    answer += kVerdict;
                }
                answer += ']';
                m_checks += batch;
            }
            ++m_requests;
            response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(answer.size()) + "\r\n\r\n" + answer;
            const bool was_empty = m_due.empty();
            m_due.push_back({monotonic_ns() + m_delay_ns, connection.fd, std::move(response)});
            if (was_empty) arm_timer();
        }
        connection.in.erase(0, head_end + 4 + body_length);
    }
}

void Server::arm_timer() {
    if (m_due.empty()) return;
    itimerspec spec{};
    const int64_t due = m_due.front().due;
    spec.it_value.tv_sec = due / 1000000000;
    spec.it_value.tv_nsec = due % 1000000000;
    ::timerfd_settime(m_timer, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void Server::send_due() {
    uint64_t expirations;
    (void)!::read(m_timer, &expirations, sizeof expirations);
    const int64_t now = monotonic_ns();
    while (!m_due.empty() && m_due.front().due <= now) {
        Due& due = m_due.front();
        Connection& connection = m_connections[size_t(due.fd)];
        if (connection.fd == due.fd) {
            connection.out += due.response;
            flush(connection);
        }
        m_due.pop_front();
    }
    arm_timer();
}

void Server::flush(Connection& connection) {
    while (!connection.out.empty()) {
        ssize_t n = ::send(connection.fd, connection.out.data(), connection.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            connection.out.erase(0, size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    const bool want_write = !connection.out.empty();
    if (want_write != connection.want_write) {
        connection.want_write = want_write;
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP | (want_write ? uint32_t(EPOLLOUT) : 0u);
        event.data.fd = connection.fd;
        ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, connection.fd, &event);
    }
}

void Server::close_connection(int fd) {
    ::close(fd);
    m_connections[size_t(fd)] = Connection{};
    // Answers still due for it are skipped: its slot no longer holds fd (or a new connection
    // that reused fd gets them; a bench client never closes while it waits).
}

// --load-test: `connections` keep-alive clients each POSTing one check and waiting for the
// answer, for `seconds`; prints the answers per second.
int load_test(const std::string& target, int connections, double seconds, size_t batch) {
    std::string host = target.substr(0, target.rfind(':'));
    int port = std::atoi(target.substr(target.rfind(':') + 1).c_str());
    std::string body;
    const std::string check = "{\"userId\":\"u1\",\"sourceDbId\":\"postgres\",\"schema\":\"public\","
                              "\"table\":\"bench_messages\",\"row\":{\"id\":1,\"room\":1,"
                              "\"ts\":\"2026-12-02T10:00:00.000000+00:00\",\"body\":\"w\"}}";
    if (batch <= 1) body = check;
    else {
        body = "[";
        for (size_t i = 0; i < batch; ++i) body += (i ? "," : "") + check;
        body += "]";
    }
    const std::string request = "POST /rows HTTP/1.1\r\nHost: " + target +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<int> fds;
    std::vector<std::string> inputs(static_cast<size_t>(connections));
    for (int i = 0; i < connections; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(uint16_t(port));
        ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            std::fprintf(stderr, "row_webhook: error: could not connect to %s: %s\n", target.c_str(),
                         std::strerror(errno));
            return 1;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = uint32_t(i);
        ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
        fds.push_back(fd);
        (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    }
    uint64_t answers = 0;
    const double start = monotonic_s();
    std::vector<epoll_event> events(256);
    char buffer[65536];
    while (monotonic_s() - start < seconds) {
        int n = ::epoll_wait(epoll, events.data(), int(events.size()), 100);
        for (int e = 0; e < n; ++e) {
            const uint32_t i = events[size_t(e)].data.u32;
            ssize_t got = ::recv(fds[i], buffer, sizeof buffer, 0);
            if (got <= 0) continue;
            std::string& in = inputs[i];
            in.append(buffer, size_t(got));
            while (true) { // whole responses: head, then Content-Length bytes
                size_t head_end = in.find("\r\n\r\n");
                if (head_end == std::string::npos) break;
                size_t at = in.find("Content-Length: ");
                size_t length = at < head_end ? size_t(std::atol(in.c_str() + at + 16)) : 0;
                if (in.size() < head_end + 4 + length) break;
                in.erase(0, head_end + 4 + length);
                ++answers;
                (void)!::send(fds[i], request.data(), request.size(), MSG_NOSIGNAL);
            }
        }
    }
    const double elapsed = monotonic_s() - start;
    std::printf("{\"connections\":%d,\"batch\":%zu,\"seconds\":%.3f,\"requests\":%llu,"
                "\"requests_per_s\":%.0f,\"checks_per_s\":%.0f}\n",
                connections, batch, elapsed, (unsigned long long)answers, double(answers) / elapsed,
                double(answers) * double(batch < 1 ? 1 : batch) / elapsed);
    for (int fd : fds) ::close(fd);
    return 0;
}

void usage(FILE* out) {
    std::fputs(
        "Usage: pgsync_row_webhook [--listen HOST:PORT] [--delay-ms MS] [--ready-file PATH]\n"
        "       pgsync_row_webhook --load-test HOST:PORT [--connections N] [--seconds S] [--batch B]\n"
        "\n"
        "Serves a row webhook for pgsync-serve (serve.auth.row_webhook): every POST is answered,\n"
        "after --delay-ms (default 1), with {\"delivery_authorized\":true}, or an array of as many\n"
        "as the request's array holds. GET /stats answers the requests and checks so far.\n"
        "With --load-test, measures a running one instead: N keep-alive connections (default\n"
        "64), each POSTing a check (or a batch of B) and waiting for the answer, for S seconds\n"
        "(default 3); prints the answers per second as JSON.\n",
        out);
}

} // namespace

int main(int argc, char** argv) {
    std::string listen = "127.0.0.1:0", ready_file, load_target;
    double delay_ms = 1, seconds = 3;
    int connections = 64;
    size_t batch = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "row_webhook: error: unknown option or missing value \"%s\"\n"
                                 "Try \"pgsync_row_webhook --help\" for more information.\n",
                         argv[i]);
            return 2;
        }
        const char* value = argv[++i];
        if (arg == "--listen") listen = value;
        else if (arg == "--delay-ms") delay_ms = std::atof(value);
        else if (arg == "--ready-file") ready_file = value;
        else if (arg == "--load-test") load_target = value;
        else if (arg == "--connections") connections = std::atoi(value);
        else if (arg == "--seconds") seconds = std::atof(value);
        else if (arg == "--batch") batch = size_t(std::atol(value));
        else {
            std::fprintf(stderr, "row_webhook: error: unknown option \"%s\"\n"
                                 "Try \"pgsync_row_webhook --help\" for more information.\n",
                         argv[i - 1]);
            return 2;
        }
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    if (!load_target.empty()) return load_test(load_target, connections, seconds, batch);
    Server server(int(delay_ms * 1000), listen, ready_file);
    return server.run();
}
