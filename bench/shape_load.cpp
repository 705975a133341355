// The load generator of bench/shape_http: many long-polling clients of ElectricSQL's HTTP shape
// API (pgsync-serve's GET /v1/shape, directly or through an HTTP cache) in one single-threaded
// epoll loop over HTTP/1.1 keep-alive connections, each client following one shape with exactly
// the requests @electric-sql/client makes, timing every change from the row's "ts" column (set by
// PostgreSQL at insert or update) to its arrival. Writes one JSON object per line on stdout.
//
// Client i follows shape i % M: table=T&where=COLUMN = (i % M). Its requests (protocol brief
// §5.2, parameters sorted as the client sorts them): offset=-1; then the electric-offset and
// electric-handle of each response until one carries electric-up-to-date; then for ever
// cursor=C&handle=H&live=true&offset=O with the last electric-cursor (empty before the first live
// response). A 409 starts over from offset=-1 with the handle it names; other errors are counted
// and retried after a second (a 4xx from offset=-1, a 5xx from where the client was); a request
// with no answer after --request-timeout seconds (the client's watchdog: 45 s) is abandoned, its
// connection closed, and sent again on a new one.
//
// Commands on stdin, one per line, as for pgsync_serve_load (bench/serve_load.cpp):
//   phase NAME   start a phase: latencies and counts from now on go to it
//   mark         print the phase's counts so far ({"type":"mark",...}), e.g. when the writer stops
//   end [N [S]]  end the phase and print its summary ({"type":"phase",...}); with N, once the
//                phase has N changes or S seconds (default 30) have passed ("drain_seconds",
//                "expected", "complete")
//   quit         print the final summary and exit
// Percentiles come from a histogram over every change of the phase (10 us buckets below 100 ms).
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "latency.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    int clients = 10000;
    int shapes = 1000;
    std::string table = "bench_items";
    std::string column = "shard";
    double connect_rate = 2000; // connections per second
    double window = 1;          // seconds per window line
    double subscribe_timeout = 300;
    double request_timeout = 45; // @electric-sql/client's liveRequestTimeoutMs
    double retry_seconds = 1;    // after an error status or a lost connection
};

// ---- the body: a JSON array of Electric messages ----

// What the load generator needs of one message; views into the body.
struct Message {
    bool has_key = false;         // a change (snapshot row or from the log)
    bool has_lsn = false;         // headers.lsn: a change from the log, not a snapshot row
    std::string_view ts;          // value.ts, the raw string (no escapes in a timestamp)
    std::string_view control;     // headers.control
    std::string_view operation;   // headers.operation
    bool value_has_ts = false;
};

// Walks a JSON array of objects and calls on_message for each element with the members above
// (found by their path, so a "ts" inside another string or object is not taken for the column).
// Returns false when the body is not a well-formed array of objects; strings' escapes are
// skipped, not decoded (the members read here have none), numbers and literals are not checked.
template <typename OnMessage> bool scan_messages(std::string_view body, OnMessage&& on_message) {
    struct Level {
        bool object = false;
        bool expect_key = false;
        std::string_view key;
    };
    constexpr int kMaxDepth = 32;
    Level levels[kMaxDepth];
    int depth = 0; // levels in use; levels[0] is the array, levels[1] a message
    Message message;
    bool done = false;
    size_t i = 0;
    const size_t n = body.size();
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (i < n && space(body[i])) ++i;
    if (i == n) return true; // an empty body is []
    if (body[i] != '[') return false;
    while (i < n) {
        const char c = body[i];
        if (done) {
            if (!space(c)) return false;
            ++i;
            continue;
        }
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && body[j] != '"') j += body[j] == '\\' ? 2 : 1;
            if (j >= n) return false;
            std::string_view text = body.substr(i + 1, j - i - 1);
            i = j + 1;
            if (depth == 0) return false;
            Level& top = levels[depth - 1];
            if (top.object && top.expect_key) {
                top.key = text;
                top.expect_key = false;
                continue;
            }
            if (depth == 1) return false; // a string in the array: not a message
            if (depth == 2 && top.key == "key") message.has_key = true;
            if (depth == 3 && levels[1].key == "value" && top.key == "ts") {
                message.ts = text;
                message.value_has_ts = true;
            }
            if (depth == 3 && levels[1].key == "headers") {
                if (top.key == "lsn") message.has_lsn = true;
                if (top.key == "control") message.control = text;
                if (top.key == "operation") message.operation = text;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == 1 && c != '{') return false;
            if (depth == kMaxDepth) return false;
            if (depth == 1) message = Message{};
            levels[depth++] = Level{c == '{', c == '{', {}};
        } else if (c == '}' || c == ']') {
            if (depth == 0 || levels[depth - 1].object != (c == '}')) return false;
            --depth;
            if (depth == 1) on_message(message);
            if (depth == 0) done = true;
        } else if (c == ',') {
            if (depth == 0) return false;
            if (levels[depth - 1].object) levels[depth - 1].expect_key = true;
        } else if (depth == 1 && !space(c)) {
            return false; // a number or literal in the array: not a message
        }
        ++i;
    }
    return done;
}

// ---- counts ----

struct Tally {
    uint64_t changes = 0;       // change messages from the log (latency measured)
    uint64_t snapshot_rows = 0; // change messages without lsn: initial rows
    uint64_t requests = 0;      // requests sent, a resend on a new connection included
    uint64_t responses = 0;
    uint64_t status_200 = 0, status_204 = 0, status_304 = 0, status_409 = 0, status_4xx = 0,
             status_5xx = 0, status_other = 0;
    uint64_t up_to_date = 0;   // responses with electric-up-to-date
    uint64_t errors = 0;       // error statuses (not 409), unreadable responses, lost connections
    uint64_t timeouts = 0;     // requests abandoned after --request-timeout
    uint64_t reconnects = 0;   // connections the server closed with a request out, no answer
    uint64_t dropped = 0;      // of those, requests it held 100 ms or more (not a keep-alive race)
    uint64_t bad_ts = 0;       // inserts and updates whose "ts" could not be read
    uint64_t deletes = 0;      // deletes from the log (no "ts" to time them by)
    uint64_t bytes = 0;        // body bytes
    Histogram latency;
    void clear() { *this = Tally{}; }
};

enum class Conn { None, Connecting, Open };

struct Client {
    int fd = -1;
    Conn conn = Conn::None;
    int shape = 0;
    std::string offset = "-1";
    std::string handle;
    std::string cursor;
    bool live = false;          // seen electric-up-to-date: live requests from now on
    bool counted_up_to_date = false;
    bool in_flight = false;     // a request is sent (or waits for its connection)
    double sent_at = 0;         // when the request in flight was started
    double retry_at = 0;        // > 0: waiting to send the next request
    uint32_t served = 0;        // responses read on this connection
    std::string in;             // the response so far
    std::string out;            // request bytes the socket did not take yet
};

// The response head's members the client reads.
struct ResponseHead {
    int status = 0;
    size_t head_size = 0;
    bool chunked = false;
    long long content_length = -1;
    bool close = false;
    bool has_offset = false, has_handle = false, has_cursor = false, up_to_date = false;
    std::string_view offset, handle, cursor;
};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Parses the status line and headers of in; false when they are malformed.
bool parse_head(std::string_view in, size_t end, ResponseHead& head) {
    std::string_view text = in.substr(0, end);
    size_t line_end = text.find("\r\n");
    std::string_view status_line = text.substr(0, line_end);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) return false;
    head.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    if (head.status < 100 || head.status > 599) return false;
    if (status_line.starts_with("HTTP/1.0")) head.close = true;
    size_t at = line_end == std::string_view::npos ? text.size() : line_end + 2;
    while (at < text.size()) {
        size_t next = text.find("\r\n", at);
        if (next == std::string_view::npos) next = text.size();
        std::string_view line = text.substr(at, next - at);
        at = next + 2;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        if (iequals(name, "content-length")) {
            head.content_length = std::atoll(std::string(value).c_str());
        } else if (iequals(name, "transfer-encoding")) {
            head.chunked = value.find("chunked") != std::string_view::npos;
        } else if (iequals(name, "connection")) {
            if (iequals(value, "close")) head.close = true;
        } else if (iequals(name, "electric-offset")) {
            head.offset = value;
            head.has_offset = true;
        } else if (iequals(name, "electric-handle")) {
            head.handle = value;
            head.has_handle = true;
        } else if (iequals(name, "electric-cursor")) {
            head.cursor = value;
            head.has_cursor = true;
        } else if (iequals(name, "electric-up-to-date")) {
            head.up_to_date = true;
        }
    }
    head.head_size = end + 4;
    return true;
}

// A chunked body starting at in[from]: its decoded bytes into body and the end of the message in
// end. 0 while incomplete, -1 when malformed, 1 when whole.
int read_chunked(std::string_view in, size_t from, std::string& body, size_t& end) {
    body.clear();
    size_t at = from;
    while (true) {
        size_t line_end = in.find("\r\n", at);
        if (line_end == std::string_view::npos) return 0;
        char* stop = nullptr;
        std::string size_text(in.substr(at, line_end - at));
        unsigned long long size = std::strtoull(size_text.c_str(), &stop, 16);
        if (stop == size_text.c_str()) return -1;
        at = line_end + 2;
        if (size == 0) {
            // Trailers, then an empty line.
            while (true) {
                size_t trailer_end = in.find("\r\n", at);
                if (trailer_end == std::string_view::npos) return 0;
                bool empty = trailer_end == at;
                at = trailer_end + 2;
                if (empty) break;
            }
            end = at;
            return 1;
        }
        if (in.size() < at + size + 2) return 0;
        body.append(in.data() + at, size_t(size));
        at += size_t(size) + 2;
    }
}

// Percent-encodes what is not unreserved (RFC 3986), for handles and offsets copied into a URL.
void append_encoded(std::string& out, std::string_view text) {
    static const char kHex[] = "0123456789ABCDEF";
    for (char c : text) {
        unsigned char u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
            u == '_' || u == '.' || u == '~') {
            out += c;
        } else {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
}

class Load {
public:
    explicit Load(const Options& options) : m_options(options), m_clients(size_t(options.clients)) {
        for (int i = 0; i < options.clients; ++i) m_clients[size_t(i)].shape = i % options.shapes;
    }

    int run();

private:
    void open_connection(Client& client);
    void on_event(Client& client, uint32_t events);
    void on_readable(Client& client);
    // Sends the client's next request: on its connection, or on a new one once connected.
    void send_request(Client& client);
    bool flush(Client& client);
    // Reads every whole response in client.in; false when the connection must be dropped.
    bool read_responses(Client& client);
    void on_response(Client& client, const ResponseHead& head, std::string_view body);
    void close_connection(Client& client);
    // Drops the connection after a failure and retries the request in flight later (or now).
    void connection_lost(Client& client, const char* why, bool count_error);
    void retry_later(Client& client);
    void set_live(Client& client, bool live) {
        m_live += int(live) - int(client.live);
        client.live = live;
    }
    void count(uint64_t Tally::*member, uint64_t by = 1) {
        m_window.*member += by;
        m_phase.*member += by;
        m_total.*member += by;
    }
    void note(const char* format, const std::string& detail);
    void check_deadlines(double now);
    void read_commands();
    void print_window(double now);
    void print_phase(const char* type, const Tally& tally, double seconds);
    void end_phase(double now);

    Options m_options;
    std::vector<Client> m_clients;
    int m_epoll = -1;
    std::vector<char> m_read_buffer = std::vector<char>(1 << 20);
    std::string m_body; // scratch: a decoded chunked body
    std::vector<int> m_retrying; // clients with retry_at set

    int m_opened = 0, m_open = 0, m_live = 0, m_up_to_date_clients = 0, m_connect_failures = 0;
    uint64_t m_notes = 0;
    double m_start = 0, m_all_up_to_date_at = 0, m_last_deadline_check = 0;

    Tally m_window, m_phase, m_total;
    std::string m_phase_name;
    bool m_in_phase = false;
    bool m_draining = false;
    uint64_t m_drain_expected = 0;
    double m_drain_deadline = 0;
    double m_mark = 0;
    double m_window_start = 0, m_phase_start = 0;
    std::string m_stdin;
    bool m_quit = false;
};

void Load::note(const char* format, const std::string& detail) {
    if (++m_notes > 20) return;
    std::fprintf(stderr, "shape_load: ");
    std::fprintf(stderr, format, detail.c_str());
    std::fputc('\n', stderr);
    if (m_notes == 20) std::fprintf(stderr, "shape_load: (further notes left out)\n");
}

void Load::open_connection(Client& client) {
    ++m_opened;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ++m_connect_failures;
        count(&Tally::errors);
        note("could not open a socket: %s", std::strerror(errno));
        retry_later(client);
        return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(uint16_t(m_options.port));
    ::inet_pton(AF_INET, m_options.host.c_str(), &address.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS) {
        ++m_connect_failures;
        count(&Tally::errors);
        note("could not connect: %s", std::strerror(errno));
        ::close(fd);
        retry_later(client);
        return;
    }
    client.fd = fd;
    client.conn = Conn::Connecting;
    client.served = 0;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    event.data.u64 = uint64_t(&client - m_clients.data());
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
}

void Load::send_request(Client& client) {
    std::string& out = client.out;
    out.clear();
    out += "GET /v1/shape?";
    if (client.live) {
        out += "cursor=";
        append_encoded(out, client.cursor);
        out += '&';
    }
    if (!client.handle.empty()) {
        out += "handle=";
        append_encoded(out, client.handle);
        out += '&';
    }
    if (client.live) out += "live=true&";
    out += "log=full&offset=";
    append_encoded(out, client.offset);
    out += "&table=";
    append_encoded(out, m_options.table);
    out += "&where=";
    append_encoded(out, m_options.column);
    out += "+%3D+";
    out += std::to_string(client.shape);
    out += " HTTP/1.1\r\nHost: ";
    out += m_options.host;
    out += ':';
    out += std::to_string(m_options.port);
    out += "\r\n\r\n";
    client.in_flight = true;
    client.sent_at = monotonic_s();
    count(&Tally::requests);
    if (client.conn == Conn::None) {
        open_connection(client); // the request goes out once connected
        return;
    }
    if (client.conn == Conn::Open && !flush(client)) connection_lost(client, "send failed", true);
}

bool Load::flush(Client& client) {
    while (!client.out.empty()) {
        ssize_t n = ::send(client.fd, client.out.data(), client.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            client.out.erase(0, size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return false;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | (client.out.empty() ? 0u : uint32_t(EPOLLOUT));
    event.data.u64 = uint64_t(&client - m_clients.data());
    ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, client.fd, &event);
    return true;
}

void Load::close_connection(Client& client) {
    if (client.fd >= 0) ::close(client.fd);
    if (client.conn == Conn::Open) --m_open;
    client.fd = -1;
    client.conn = Conn::None;
    client.served = 0;
    client.in.clear();
    client.out.clear();
}

void Load::retry_later(Client& client) {
    if (client.retry_at == 0) m_retrying.push_back(int(&client - m_clients.data()));
    client.retry_at = monotonic_s() + m_options.retry_seconds;
}

void Load::connection_lost(Client& client, const char* why, bool count_error) {
    close_connection(client);
    if (!client.in_flight) return; // nothing lost: the next request opens a new connection
    if (count_error) {
        count(&Tally::errors);
        note("connection lost with a request in flight: %s", why);
        retry_later(client);
    } else {
        send_request(client);
    }
}

void Load::on_event(Client& client, uint32_t events) {
    if (client.fd < 0) return;
    if (client.conn == Conn::Connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int so_error = 0;
        socklen_t length = sizeof so_error;
        ::getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
        if (so_error != 0) {
            ++m_connect_failures;
            note("could not connect: %s", std::strerror(so_error));
            connection_lost(client, "connect failed", true);
            return;
        }
        client.conn = Conn::Open;
        ++m_open;
        if (!flush(client)) {
            connection_lost(client, "send failed", true);
            return;
        }
    } else if ((events & EPOLLOUT) && !flush(client)) {
        connection_lost(client, "send failed", true);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(client);
}

void Load::on_readable(Client& client) {
    while (client.fd >= 0) {
        ssize_t n = ::recv(client.fd, m_read_buffer.data(), m_read_buffer.size(), 0);
        if (n > 0) {
            client.in.append(m_read_buffer.data(), size_t(n));
            if (!read_responses(client)) return;
            if (size_t(n) < m_read_buffer.size()) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        // EOF or reset. A kept-alive connection the server closed just as the request went out
        // (nothing of the response came, within kRaceSeconds) is a reconnect; one that held the
        // request and closed without an answer dropped it (the client retries, as Electric's
        // does after a network error); anything else loses a request.
        constexpr double kRaceSeconds = 0.1;
        if (client.in.empty() && client.served > 0) {
            if (monotonic_s() - client.sent_at >= kRaceSeconds) {
                count(&Tally::dropped);
                note("%s", "a held request closed by the server without an answer");
            }
            count(&Tally::reconnects);
            connection_lost(client, "closed by the server", false);
            return;
        }
        connection_lost(client, n == 0 ? "closed by the server" : std::strerror(errno), true);
        return;
    }
}

bool Load::read_responses(Client& client) {
    while (client.fd >= 0 && !client.in.empty()) {
        std::string_view in = client.in;
        size_t head_end = in.find("\r\n\r\n");
        if (head_end == std::string_view::npos) {
            if (in.size() > 64 * 1024) {
                connection_lost(client, "response head over 64 KB", true);
                return false;
            }
            return true;
        }
        ResponseHead head;
        if (!parse_head(in, head_end, head)) {
            note("unreadable response head: %s", std::string(in.substr(0, std::min<size_t>(head_end, 200))));
            connection_lost(client, "unreadable response head", true);
            return false;
        }
        if (head.status < 200) { // 100 Continue and the like: skip
            client.in.erase(0, head.head_size);
            continue;
        }
        std::string_view body;
        size_t end = 0;
        if (head.status == 204 || head.status == 304) {
            end = head.head_size;
        } else if (head.chunked) {
            int whole = read_chunked(in, head.head_size, m_body, end);
            if (whole == 0) return true;
            if (whole < 0) {
                connection_lost(client, "malformed chunked body", true);
                return false;
            }
            body = m_body;
        } else if (head.content_length >= 0) {
            if (in.size() < head.head_size + size_t(head.content_length)) return true;
            end = head.head_size + size_t(head.content_length);
            body = in.substr(head.head_size, size_t(head.content_length));
        } else {
            connection_lost(client, "a response with neither content-length nor chunked", true);
            return false;
        }
        if (!client.in_flight) {
            note("%s", "a response with no request in flight");
            connection_lost(client, "unexpected response", true);
            return false;
        }
        ++client.served;
        // on_response reads head and body (views into client.in) before it sends the next
        // request; a failed send drops the connection, and client.in with it.
        on_response(client, head, body);
        if (client.fd < 0) return false;
        if (head.close) {
            // The server ends the connection after this response: the next request, if already
            // sent on it, goes again on a new one.
            const bool resend = client.in_flight;
            close_connection(client);
            if (resend) {
                count(&Tally::reconnects);
                send_request(client);
            }
            return false;
        }
        client.in.erase(0, end);
    }
    return client.fd >= 0;
}

void Load::on_response(Client& client, const ResponseHead& head, std::string_view body) {
    client.in_flight = false;
    count(&Tally::responses);
    count(&Tally::bytes, body.size());
    const int status = head.status;
    if (status == 200 || status == 204) {
        count(status == 200 ? &Tally::status_200 : &Tally::status_204);
        if (!head.has_offset || !head.has_handle || (client.live && !head.has_cursor)) {
            count(&Tally::errors);
            note("a %s response without the electric headers the client requires",
                 client.live ? "live" : "non-live");
            client.offset = "-1";
            set_live(client, false);
            client.cursor.clear();
            retry_later(client);
            return;
        }
        const int64_t now_us = realtime_us();
        bool must_refetch = false;
        bool readable = scan_messages(body, [&](const Message& message) {
            if (message.has_key) {
                if (!message.has_lsn) {
                    count(&Tally::snapshot_rows);
                    return;
                }
                if (message.operation == "delete") {
                    count(&Tally::deletes);
                    return;
                }
                int64_t ts = message.value_has_ts
                                 ? parse_timestamp_us(message.ts.data(),
                                                      message.ts.data() + message.ts.size())
                                 : -1;
                if (ts < 0) {
                    count(&Tally::bad_ts);
                    return;
                }
                count(&Tally::changes);
                m_window.latency.add(now_us - ts);
                if (m_in_phase) m_phase.latency.add(now_us - ts);
            } else if (message.control == "must-refetch") {
                must_refetch = true;
            }
        });
        if (!readable) {
            count(&Tally::errors);
            note("a body that is not a JSON array of messages: %s",
                 std::string(body.substr(0, 200)));
        }
        client.handle.assign(head.handle);
        client.offset.assign(head.offset);
        if (head.has_cursor) client.cursor.assign(head.cursor);
        if (must_refetch) {
            client.offset = "-1";
            set_live(client, false);
            client.cursor.clear();
        } else if (head.up_to_date) {
            count(&Tally::up_to_date);
            set_live(client, true);
            if (!client.counted_up_to_date) {
                client.counted_up_to_date = true;
                if (++m_up_to_date_clients == m_options.clients) {
                    m_all_up_to_date_at = monotonic_s();
                    std::printf("{\"type\":\"subscribed\",\"clients\":%d,\"seconds\":%.3f,"
                                "\"snapshot_rows\":%llu,\"requests\":%llu}\n",
                                m_up_to_date_clients, m_all_up_to_date_at - m_start,
                                (unsigned long long)m_total.snapshot_rows,
                                (unsigned long long)m_total.requests);
                    std::fflush(stdout);
                }
            }
        }
        send_request(client);
        return;
    }
    if (status == 409) {
        // The shape was rotated: start over with the handle the server names (as the client
        // does: offset -1, no cursor, not live).
        count(&Tally::status_409);
        client.handle = head.has_handle ? std::string(head.handle) : std::string();
        client.offset = "-1";
        client.cursor.clear();
        set_live(client, false);
        send_request(client);
        return;
    }
    count(status == 304                  ? &Tally::status_304
          : status >= 400 && status < 500 ? &Tally::status_4xx
          : status >= 500                 ? &Tally::status_5xx
                                          : &Tally::status_other);
    count(&Tally::errors);
    note("error response: %s",
         std::to_string(status) + " " + std::string(body.substr(0, 300)));
    if (status >= 400 && status < 500 && status != 429) {
        // The request itself was refused: start over from the beginning.
        client.offset = "-1";
        client.cursor.clear();
        set_live(client, false);
    }
    retry_later(client);
}

void Load::check_deadlines(double now) {
    // Retries that are due.
    if (!m_retrying.empty()) {
        std::vector<int> due;
        size_t kept = 0;
        for (int index : m_retrying) {
            Client& client = m_clients[size_t(index)];
            if (client.retry_at <= now) due.push_back(index);
            else m_retrying[kept++] = index;
        }
        m_retrying.resize(kept);
        for (int index : due) {
            Client& client = m_clients[size_t(index)];
            client.retry_at = 0;
            if (client.conn != Conn::None && client.in_flight) close_connection(client);
            send_request(client);
        }
    }
    // The watchdog: requests without an answer for too long, at most once a second.
    if (now - m_last_deadline_check < 1) return;
    m_last_deadline_check = now;
    for (Client& client : m_clients) {
        if (!client.in_flight || client.retry_at > 0 || now - client.sent_at < m_options.request_timeout)
            continue;
        count(&Tally::timeouts);
        note("a request without an answer after the request timeout: %s",
             std::string(client.live ? "live, offset " : "offset ") + client.offset);
        close_connection(client);
        send_request(client);
    }
}

void Load::print_phase(const char* type, const Tally& tally, double seconds) {
    if (seconds <= 0) seconds = 1e-9;
    std::printf("{\"type\":\"%s\",\"name\":\"%s\",\"seconds\":%.3f,\"changes\":%llu,"
                "\"changes_per_s\":%.0f,\"requests\":%llu,\"requests_per_s\":%.0f,"
                "\"responses\":%llu,\"s200\":%llu,\"s204\":%llu,\"s304\":%llu,\"s409\":%llu,"
                "\"s4xx\":%llu,\"s5xx\":%llu,\"s_other\":%llu,\"up_to_date\":%llu,"
                "\"snapshot_rows\":%llu,\"mb_per_s\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
                "\"max_ms\":%.2f,\"errors\":%llu,\"timeouts\":%llu,\"reconnects\":%llu,"
                "\"dropped\":%llu,\"bad_ts\":%llu,\"deletes\":%llu,\"open\":%d,\"live\":%d,\"expected\":%llu,"
                "\"drain_seconds\":%.3f,\"complete\":%s}\n",
                type, m_phase_name.c_str(), seconds, (unsigned long long)tally.changes,
                double(tally.changes) / seconds, (unsigned long long)tally.requests,
                double(tally.requests) / seconds, (unsigned long long)tally.responses,
                (unsigned long long)tally.status_200, (unsigned long long)tally.status_204,
                (unsigned long long)tally.status_304, (unsigned long long)tally.status_409,
                (unsigned long long)tally.status_4xx, (unsigned long long)tally.status_5xx,
                (unsigned long long)tally.status_other, (unsigned long long)tally.up_to_date,
                (unsigned long long)tally.snapshot_rows, double(tally.bytes) / seconds / 1e6,
                tally.latency.quantile_ms(0.50), tally.latency.quantile_ms(0.99),
                tally.latency.max_ms(), (unsigned long long)tally.errors,
                (unsigned long long)tally.timeouts, (unsigned long long)tally.reconnects,
                (unsigned long long)tally.dropped, (unsigned long long)tally.bad_ts, (unsigned long long)tally.deletes, m_open, m_live,
                (unsigned long long)m_drain_expected, m_mark > 0 ? monotonic_s() - m_mark : 0.0,
                !m_draining || tally.changes >= m_drain_expected ? "true" : "false");
    std::fflush(stdout);
}

void Load::end_phase(double now) {
    if (m_in_phase) print_phase("phase", m_phase, now - m_phase_start);
    m_in_phase = false;
    m_draining = false;
    m_drain_expected = 0;
    m_mark = 0;
    m_phase.clear();
}

void Load::print_window(double now) {
    double seconds = now - m_window_start;
    int in_flight = 0;
    for (const Client& client : m_clients) in_flight += client.in_flight ? 1 : 0;
    std::printf("{\"type\":\"window\",\"t\":%.1f,\"phase\":\"%s\",\"open\":%d,\"live\":%d,"
                "\"in_flight\":%d,\"retrying\":%zu,\"requests_per_s\":%.0f,"
                "\"changes_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,"
                "\"s409\":%llu,\"errors\":%llu,\"timeouts\":%llu,\"reconnects\":%llu,"
                "\"dropped\":%llu}\n",
                now - m_start, m_in_phase ? m_phase_name.c_str() : "", m_open, m_live, in_flight,
                m_retrying.size(), double(m_window.requests) / seconds,
                double(m_window.changes) / seconds, m_window.latency.quantile_ms(0.50),
                m_window.latency.quantile_ms(0.99), m_window.latency.max_ms(),
                (unsigned long long)m_window.status_409, (unsigned long long)m_window.errors,
                (unsigned long long)m_window.timeouts, (unsigned long long)m_window.reconnects,
                (unsigned long long)m_window.dropped);
    std::fflush(stdout);
    m_window.clear();
    m_window_start = now;
}

void Load::read_commands() {
    char chunk[4096];
    while (true) {
        ssize_t n = ::read(0, chunk, sizeof chunk);
        if (n > 0) {
            m_stdin.append(chunk, size_t(n));
            continue;
        }
        if (n == 0) ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, 0, nullptr); // no more commands
        break;
    }
    size_t line_end;
    while ((line_end = m_stdin.find('\n')) != std::string::npos) {
        std::string line = m_stdin.substr(0, line_end);
        m_stdin.erase(0, line_end + 1);
        double now = monotonic_s();
        if (line.starts_with("phase ")) {
            end_phase(now);
            m_phase_name = line.substr(6);
            m_in_phase = true;
            m_phase_start = now;
        } else if (line == "mark") {
            m_mark = 0;
            print_phase("mark", m_phase, now - m_phase_start);
            m_mark = now;
        } else if (line == "end") {
            end_phase(now);
        } else if (line.starts_with("end ")) {
            unsigned long long expected = 0;
            double timeout = 30;
            std::sscanf(line.c_str() + 4, "%llu %lf", &expected, &timeout);
            m_draining = true;
            m_drain_expected = expected;
            m_drain_deadline = now + timeout;
        } else if (line == "quit") {
            m_quit = true;
        } else if (!line.empty()) {
            std::fprintf(stderr, "shape_load: unknown command \"%s\"\n", line.c_str());
        }
    }
}

int Load::run() {
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    ::fcntl(0, F_SETFL, ::fcntl(0, F_GETFL) | O_NONBLOCK);
    epoll_event stdin_event{};
    stdin_event.events = EPOLLIN;
    stdin_event.data.u64 = UINT64_MAX;
    // A regular file or /dev/null cannot be watched: no commands then.
    (void)::epoll_ctl(m_epoll, EPOLL_CTL_ADD, 0, &stdin_event);

    m_start = m_window_start = monotonic_s();
    std::vector<epoll_event> events(4096);
    int next = 0;
    bool timeout_reported = false;
    while (!g_stop && !m_quit) {
        double now = monotonic_s();
        // Clients start at --connect-rate, so the server's accept queue is not flooded.
        int due = std::min(m_options.clients, int((now - m_start) * m_options.connect_rate) + 1);
        while (next < due) send_request(m_clients[size_t(next++)]);

        int n = ::epoll_wait(m_epoll, events.data(), int(events.size()),
                             next < m_options.clients || !m_retrying.empty() ? 1 : 50);
        if (n < 0 && errno != EINTR) {
            std::perror("shape_load: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            const uint64_t data = events[size_t(i)].data.u64;
            if (data == UINT64_MAX) {
                read_commands();
                continue;
            }
            on_event(m_clients[size_t(data)], events[size_t(i)].events);
        }
        now = monotonic_s();
        check_deadlines(now);
        if (now - m_window_start >= m_options.window) print_window(now);
        if (m_draining && (m_phase.changes >= m_drain_expected || now >= m_drain_deadline))
            end_phase(now);
        if (m_all_up_to_date_at == 0 && !timeout_reported &&
            now - m_start > m_options.subscribe_timeout) {
            timeout_reported = true;
            std::printf("{\"type\":\"subscribe-timeout\",\"up_to_date\":%d,\"open\":%d,"
                        "\"connect_failures\":%d}\n",
                        m_up_to_date_clients, m_open, m_connect_failures);
            std::fflush(stdout);
        }
    }
    double now = monotonic_s();
    end_phase(now);
    std::printf("{\"type\":\"total\",\"seconds\":%.3f,\"connect_failures\":%d,\"opened\":%d,"
                "\"up_to_date\":%d,\"open\":%d,\"live\":%d,\"snapshot_rows\":%llu,"
                "\"changes\":%llu,\"requests\":%llu,\"responses\":%llu,\"s200\":%llu,"
                "\"s409\":%llu,\"s4xx\":%llu,\"s5xx\":%llu,\"errors\":%llu,\"timeouts\":%llu,"
                "\"reconnects\":%llu,\"dropped\":%llu,\"bad_ts\":%llu,\"deletes\":%llu}\n",
                now - m_start, m_connect_failures, m_opened, m_up_to_date_clients, m_open, m_live,
                (unsigned long long)m_total.snapshot_rows, (unsigned long long)m_total.changes,
                (unsigned long long)m_total.requests, (unsigned long long)m_total.responses,
                (unsigned long long)m_total.status_200, (unsigned long long)m_total.status_409,
                (unsigned long long)m_total.status_4xx, (unsigned long long)m_total.status_5xx,
                (unsigned long long)m_total.errors, (unsigned long long)m_total.timeouts,
                (unsigned long long)m_total.reconnects, (unsigned long long)m_total.dropped,
                (unsigned long long)m_total.bad_ts,
                (unsigned long long)m_total.deletes);
    std::fflush(stdout);
    for (Client& client : m_clients)
        if (client.fd >= 0) ::close(client.fd);
    return 0;
}

void usage(FILE* out) {
    std::fputs(
        "Usage: pgsync_shape_load --port PORT [OPTIONS]\n"
        "\n"
        "Runs N long-polling clients of an Electric shape API (GET /v1/shape) over HTTP/1.1\n"
        "keep-alive connections, client i following table T where COLUMN = i % M with the\n"
        "requests @electric-sql/client makes (offset=-1, then electric-offset and\n"
        "electric-handle until up-to-date, then live=true with electric-cursor), and measures,\n"
        "for every change from the log, arrival time - the row's \"ts\" column. Prints one JSON\n"
        "object per line: a window every --window seconds, \"subscribed\" when every client is\n"
        "live, a phase summary per phase, and a total.\n"
        "Commands on stdin: \"phase NAME\" (start a phase), \"mark\" (print its counts so far),\n"
        "\"end [N [S]]\" (print its summary, after N changes or S seconds), \"quit\".\n"
        "\n"
        "Options:\n"
        "  --host ADDR            IPv4 address of the server (default 127.0.0.1)\n"
        "  --port PORT            port of the server (required)\n"
        "  --clients N            clients, one connection each (default 10000)\n"
        "  --shapes M             distinct shapes (default 1000)\n"
        "  --table NAME           table of the shapes (default bench_items)\n"
        "  --column NAME          integer column of the shapes' where (default shard)\n"
        "  --connect-rate R       clients started per second (default 2000)\n"
        "  --window S             seconds per window line (default 1)\n"
        "  --subscribe-timeout S  report when not every client is live by then (default 300)\n"
        "  --request-timeout S    abandon a request without an answer after S (default 45)\n"
        "  -h, --help             show this help\n",
        out);
}

} // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "shape_load: error: unknown option or missing value \"%s\"\n"
                                 "Try \"pgsync_shape_load --help\" for more information.\n",
                         argv[i]);
            return 2;
        }
        const char* value = argv[++i];
        if (arg == "--host") options.host = value;
        else if (arg == "--port") options.port = std::atoi(value);
        else if (arg == "--clients") options.clients = std::atoi(value);
        else if (arg == "--shapes") options.shapes = std::atoi(value);
        else if (arg == "--table") options.table = value;
        else if (arg == "--column") options.column = value;
        else if (arg == "--connect-rate") options.connect_rate = std::atof(value);
        else if (arg == "--window") options.window = std::atof(value);
        else if (arg == "--subscribe-timeout") options.subscribe_timeout = std::atof(value);
        else if (arg == "--request-timeout") options.request_timeout = std::atof(value);
        else {
            std::fprintf(stderr, "shape_load: error: unknown option \"%s\"\n"
                                 "Try \"pgsync_shape_load --help\" for more information.\n",
                         argv[i - 1]);
            return 2;
        }
    }
    if (options.port <= 0 || options.port > 65535 || options.clients <= 0 || options.shapes <= 0 ||
        options.connect_rate <= 0 || options.window <= 0 || options.request_timeout <= 0) {
        std::fprintf(stderr, "shape_load: error: --port, --clients, --shapes, --connect-rate, "
                             "--window and --request-timeout need positive values\n"
                             "Try \"pgsync_shape_load --help\" for more information.\n");
        return 2;
    }
    // One descriptor per client, plus a few: raise the soft limit as far as the hard one allows.
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (rlim_t(options.clients) + 16 > limit.rlim_cur) {
        std::fprintf(stderr, "shape_load: error: %d clients need more file descriptors than the "
                             "limit of %llu\n",
                     options.clients, (unsigned long long)limit.rlim_cur);
        return 1;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    Load load(options);
    return load.run();
}
