// The load generator of bench/serve and bench/live_queries: many WebSocket clients of
// pgsync-serve's /v1/ws in one single-threaded epoll loop, each with one or more subscriptions
// (plain shapes, or ordered windows), timing every change from the row's "ts" (set by PostgreSQL
// at insert) to its arrival. Writes one JSON object per line on stdout.
//
// Commands on stdin, one per line, so the driving script can cut the run into phases:
//   phase NAME [TAG]  start a phase: latencies and counts from now on go to it; with TAG, only
//                the live inserts of rows whose "body" is TAG are timed and counted as changes
//                (in a window, refills and rows pushed back carry old "ts": they are counted as
//                "other" changes, untimed)
//   mark         print the phase's counts so far ({"type":"mark",...}), e.g. when the writer stops
//   end [N [S]]  end the phase in progress and print its summary ({"type":"phase",...}); with N,
//                once the phase has N changes or S seconds (default 30) have passed, so that the
//                summary covers the changes still on their way ("drain_seconds", "complete")
//   quit         print the final summary and exit
// A phase summary's percentiles are exact to 10 us below 100 ms and to 1 ms above (a
// histogram), computed over every change of the phase, not averaged over windows.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "latency.h"
#include "ws_frame.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    int clients = 10000;
    int shapes = 1000;
    std::string table = "public.bench";
    double connect_rate = 2000; // connections per second
    double duration = 0;        // seconds after every client is up to date; 0: until quit/signal
    double window = 1;          // seconds per window line
    double subscribe_timeout = 300;
    int subscriptions_per_client = 1;        // K: client i, subscription j -> shape (i*K + j) % M + 1
    std::string where;                        // empty: "shape = $1 AND v >= $2", params [shape, 0]
    std::string window_order;                 // with window_limit: ordered windows
    int window_limit = 0;
    std::string jwt_secret;                   // HS256 tokens instead of none (--insecure servers)
    int users = 1000;                         // distinct token subjects
};

// Counts over a window or a phase.
struct Tally {
    uint64_t changes = 0;      // live change frames (latency measured)
    uint64_t frames = 0;       // every text frame, snapshot rows and up-to-date included
    uint64_t bytes = 0;        // frame payload bytes
    uint64_t errors = 0;       // "type":"error" frames
    uint64_t disconnects = 0;  // connections lost after the upgrade
    uint64_t bad_ts = 0;       // change frames whose "ts" could not be read
    uint64_t other = 0;        // live change frames not timed (a tagged phase's other changes)
    Histogram latency;
    void clear() {
        changes = frames = bytes = errors = disconnects = bad_ts = other = 0;
        latency.clear();
    }
};

enum class State { Connecting, Handshake, Open, Closed };

struct Client {
    int fd = -1;
    State state = State::Closed;
    bool up_to_date = false;   // every subscription's first up-to-date arrived
    int subscriptions_up_to_date = 0;
    std::vector<bool> subscription_up_to_date; // by subscription number
    bool in_message = false;   // inside a fragmented message
    std::string pending_in;    // an incomplete frame (or response head) carried to the next read
    std::string pending_out;   // bytes the socket did not take yet
    std::string message;       // fragments of the message in progress
};

class Load {
public:
    explicit Load(const Options& options) : m_options(options), m_clients(size_t(options.clients)) {}

    int run();

private:
    void open_connection(int index);
    void on_event(int index, uint32_t events);
    void on_connected(Client& client);
    void on_readable(Client& client, int index);
    // Parses what is in data (pending_in first); returns false when the connection must close.
    bool parse(Client& client, const char* data, size_t size, int64_t now_us);
    bool on_message(Client& client, const char* data, size_t size, int64_t now_us);
    bool send_frame(Client& client, int opcode, std::string_view payload);
    bool flush(Client& client);
    void close_client(Client& client, bool count_disconnect);
    void read_commands();
    void print_window(double now);
    void print_phase(const char* type, const std::string& name, const Tally& tally, double seconds);
    void end_phase(double now);
    void count_change(Tally& tally, int64_t latency, bool timed);
    std::string token_for(int index) const;

    Options m_options;
    std::vector<Client> m_clients;
    int m_epoll = -1;
    std::vector<char> m_read_buffer = std::vector<char>(1 << 20);
    uint32_t m_mask_state = 0x9e3779b9;
    std::string m_frame; // scratch for outgoing frames

    int m_opened = 0, m_connected = 0, m_open = 0, m_up_to_date = 0, m_connect_failures = 0;
    uint64_t m_snapshot_rows = 0;
    uint64_t m_first_errors_printed = 0;
    double m_start = 0, m_all_up_to_date_at = 0;

    Tally m_window, m_phase, m_total;
    std::string m_phase_name;
    std::string m_phase_tag; // "body":"TAG" marks the rows this phase times
    bool m_in_phase = false;
    bool m_draining = false;       // "end N S" received: the phase ends at N changes or S seconds
    uint64_t m_drain_expected = 0;
    double m_drain_deadline = 0;
    double m_mark = 0; // when "mark" (the writer stopped) came, for drain_seconds
    double m_window_start = 0, m_phase_start = 0, m_total_start = 0;
    std::string m_stdin;
    bool m_quit = false;
};

void Load::open_connection(int index) {
    Client& client = m_clients[size_t(index)];
    ++m_opened;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (++m_connect_failures <= 5)
            std::fprintf(stderr, "serve_load: could not open a socket: %s\n", std::strerror(errno));
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
        if (++m_connect_failures <= 5)
            std::fprintf(stderr, "serve_load: could not connect: %s\n", std::strerror(errno));
        ::close(fd);
        return;
    }
    client.fd = fd;
    client.state = State::Connecting;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    event.data.u64 = uint64_t(index);
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
}

void Load::on_connected(Client& client) {
    int so_error = 0;
    socklen_t length = sizeof so_error;
    ::getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
    if (so_error != 0) {
        if (++m_connect_failures <= 5)
            std::fprintf(stderr, "serve_load: could not connect: %s\n", std::strerror(so_error));
        close_client(client, false);
        return;
    }
    ++m_connected;
    client.state = State::Handshake;
    // The server does not care whether keys differ; the accept key is not checked either.
    client.pending_out = "GET /v1/ws HTTP/1.1\r\nHost: " + m_options.host + ":" +
                         std::to_string(m_options.port) +
                         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n";
    if (!m_options.jwt_secret.empty())
        client.pending_out += "Authorization: Bearer " +
                              token_for(int(&client - m_clients.data())) + "\r\n";
    client.pending_out += "\r\n";
    flush(client);
}

bool Load::send_frame(Client& client, int opcode, std::string_view payload) {
    m_frame.clear();
    m_frame += char(0x80 | opcode);
    if (payload.size() < 126) {
        m_frame += char(0x80 | payload.size());
    } else if (payload.size() < 65536) {
        m_frame += char(0x80 | 126);
        m_frame += char(payload.size() >> 8);
        m_frame += char(payload.size() & 0xff);
    } else {
        m_frame += char(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) m_frame += char((payload.size() >> shift) & 0xff);
    }
    m_mask_state ^= m_mask_state << 13;
    m_mask_state ^= m_mask_state >> 17;
    m_mask_state ^= m_mask_state << 5;
    char mask[4];
    std::memcpy(mask, &m_mask_state, 4);
    m_frame.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) m_frame += char(payload[i] ^ mask[i % 4]);
    client.pending_out += m_frame;
    return flush(client);
}

bool Load::flush(Client& client) {
    while (!client.pending_out.empty()) {
        ssize_t n = ::send(client.fd, client.pending_out.data(), client.pending_out.size(),
                           MSG_NOSIGNAL);
        if (n > 0) {
            client.pending_out.erase(0, size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return false;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | (client.pending_out.empty() ? 0u : uint32_t(EPOLLOUT));
    event.data.u64 = uint64_t(&client - m_clients.data());
    ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, client.fd, &event);
    return true;
}

void Load::close_client(Client& client, bool count_disconnect) {
    if (client.fd >= 0) ::close(client.fd);
    if (client.state == State::Open) --m_open;
    if (count_disconnect) {
        ++m_window.disconnects;
        ++m_phase.disconnects;
        ++m_total.disconnects;
    }
    client.fd = -1;
    client.state = State::Closed;
    std::string().swap(client.pending_in);
    std::string().swap(client.pending_out);
    std::string().swap(client.message);
}

void Load::on_event(int index, uint32_t events) {
    Client& client = m_clients[size_t(index)];
    if (client.fd < 0) return;
    if (client.state == State::Connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        on_connected(client);
        if (client.fd < 0) return;
    } else if ((events & EPOLLOUT) && !flush(client)) {
        close_client(client, client.state == State::Open);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(client, index);
}

void Load::on_readable(Client& client, int index) {
    while (client.fd >= 0) {
        ssize_t n = ::recv(client.fd, m_read_buffer.data(), m_read_buffer.size(), 0);
        if (n > 0) {
            if (!parse(client, m_read_buffer.data(), size_t(n), realtime_us())) {
                close_client(client, true);
                return;
            }
            if (size_t(n) < m_read_buffer.size()) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        // EOF or reset.
        if (++m_first_errors_printed <= 10)
            std::fprintf(stderr, "serve_load: client %d: connection closed by the server%s\n",
                         index, client.state == State::Open ? "" : " before the upgrade");
        close_client(client, true);
        return;
    }
}

bool Load::parse(Client& client, const char* data, size_t size, int64_t now_us) {
    // Fast path: nothing carried over, parse straight from the read buffer.
    std::string joined;
    if (!client.pending_in.empty()) {
        client.pending_in.append(data, size);
        joined.swap(client.pending_in);
        data = joined.data();
        size = joined.size();
    }
    size_t at = 0;
    if (client.state == State::Handshake) {
        std::string_view view(data, size);
        size_t end = view.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            client.pending_in.assign(data, size);
            return true;
        }
        if (view.substr(0, 12) != "HTTP/1.1 101") {
            std::fprintf(stderr, "serve_load: upgrade refused: %.*s\n",
                         int(std::min<size_t>(end, 200)), data);
            return false;
        }
        at = end + 4;
        client.state = State::Open;
        ++m_open;
        const int index = int(&client - m_clients.data());
        const int per_client = m_options.subscriptions_per_client;
        client.subscription_up_to_date.assign(size_t(per_client), false);
        for (int j = 0; j < per_client; ++j) {
            const int shape = 1 + int((int64_t(index) * per_client + j) % m_options.shapes);
            std::string subscribe = "{\"type\":\"subscribe\",\"id\":\"s" + std::to_string(j) +
                                    "\",\"table\":\"" + m_options.table + "\",\"where\":\"";
            if (m_options.where.empty())
                subscribe += "shape = $1 AND v >= $2\",\"params\":[" + std::to_string(shape) + ",0]";
            else
                subscribe += m_options.where + "\",\"params\":[" + std::to_string(shape) + "]";
            if (m_options.window_limit > 0)
                subscribe += ",\"order_by\":\"" + m_options.window_order +
                             "\",\"limit\":" + std::to_string(m_options.window_limit);
            subscribe += "}";
            if (!send_frame(client, 0x1, subscribe)) return false;
        }
    }
    while (at < size) {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(data + at);
        size_t available = size - at;
        WsFrameHead frame;
        if (!read_frame_head(p, available, frame)) break;
        const bool fin = frame.fin;
        const int opcode = frame.opcode;
        const uint64_t length = frame.length;
        const size_t head = frame.size;
        if (frame.masked) {
            std::fprintf(stderr, "serve_load: the server sent a masked frame\n");
            return false;
        }
        if (available < head + length) break;
        const char* payload = data + at + head;
        at += head + size_t(length);
        switch (opcode) {
        case 0x0:
        case 0x1:
            if (opcode == 0x1 && fin && !client.in_message) {
                if (!on_message(client, payload, size_t(length), now_us)) return false;
            } else {
                client.message.append(payload, size_t(length));
                client.in_message = !fin;
                if (fin) {
                    std::string message;
                    message.swap(client.message);
                    if (!on_message(client, message.data(), message.size(), now_us)) return false;
                }
            }
            break;
        case 0x8:
            std::fprintf(stderr, "serve_load: close frame from the server, code %d\n",
                         length >= 2 ? (int(uint8_t(payload[0])) << 8) | uint8_t(payload[1]) : 1005);
            return false;
        case 0x9:
            if (!send_frame(client, 0xA, std::string_view(payload, size_t(length)))) return false;
            break;
        case 0xA:
            break;
        default:
            std::fprintf(stderr, "serve_load: unexpected opcode %d\n", opcode);
            return false;
        }
    }
    if (at < size) client.pending_in.assign(data + at, size - at);
    return true;
}

bool Load::on_message(Client& client, const char* data, size_t size, int64_t now_us) {
    std::string_view text(data, size);
    ++m_window.frames;
    ++m_phase.frames;
    ++m_total.frames;
    m_window.bytes += size;
    m_phase.bytes += size;
    m_total.bytes += size;
    // Every frame starts {"type":"...
    std::string_view type = text.substr(0, 20);
    if (type.starts_with("{\"type\":\"change\"")) {
        if (text.find("\"snapshot\":true") != std::string_view::npos) {
            ++m_snapshot_rows;
            return true;
        }
        if (m_in_phase && !m_phase_tag.empty()) {
            // Only a live insert of a row the writer made in this phase is timed: a window's
            // refills and the rows it takes back carry old timestamps.
            const bool ours = text.find("\"op\":\"insert\"") != std::string_view::npos &&
                              text.find("\"body\":\"" + m_phase_tag + "\"") != std::string_view::npos;
            if (!ours) {
                ++m_window.other;
                ++m_phase.other;
                ++m_total.other;
                return true;
            }
        }
        constexpr std::string_view kTs = "\"ts\":\"";
        size_t at = text.find(kTs);
        int64_t ts = at == std::string_view::npos
                         ? -1
                         : parse_timestamp_us(data + at + kTs.size(), data + size);
        if (ts < 0) {
            ++m_window.bad_ts;
            ++m_phase.bad_ts;
            ++m_total.bad_ts;
            return true;
        }
        const int64_t latency = now_us - ts;
        count_change(m_window, latency, true);
        count_change(m_phase, latency, m_in_phase);
        count_change(m_total, latency, false); // the total keeps counts, not latencies
        return true;
    }
    if (type.starts_with("{\"type\":\"up-to-date\"")) {
        if (!client.up_to_date) {
            // {"type":"up-to-date","id":"s<j>",...: the client is up to date once all are.
            constexpr std::string_view kId = "{\"type\":\"up-to-date\",\"id\":\"s";
            size_t j = 0;
            for (size_t at = kId.size(); text.starts_with(kId) && at < text.size() &&
                                         text[at] >= '0' && text[at] <= '9';
                 ++at)
                j = j * 10 + size_t(text[at] - '0');
            if (j < client.subscription_up_to_date.size() && !client.subscription_up_to_date[j]) {
                client.subscription_up_to_date[j] = true;
                ++client.subscriptions_up_to_date;
            }
            if (client.subscriptions_up_to_date < m_options.subscriptions_per_client) return true;
            client.up_to_date = true;
            if (++m_up_to_date == m_options.clients) {
                m_all_up_to_date_at = monotonic_s();
                std::printf("{\"type\":\"subscribed\",\"clients\":%d,\"seconds\":%.3f,"
                            "\"snapshot_rows\":%llu}\n",
                            m_up_to_date, m_all_up_to_date_at - m_start,
                            (unsigned long long)m_snapshot_rows);
                std::fflush(stdout);
            }
        }
        return true;
    }
    if (type.starts_with("{\"type\":\"error\"")) {
        ++m_window.errors;
        ++m_phase.errors;
        ++m_total.errors;
        if (++m_first_errors_printed <= 10)
            std::fprintf(stderr, "serve_load: error frame: %.*s\n", int(std::min<size_t>(size, 400)),
                         data);
        return true;
    }
    if (m_first_errors_printed++ < 10)
        std::fprintf(stderr, "serve_load: unexpected frame: %.*s\n", int(std::min<size_t>(size, 400)),
                     data);
    return true;
}

void Load::count_change(Tally& tally, int64_t latency, bool timed) {
    ++tally.changes;
    if (timed) tally.latency.add(latency);
}

// An HS256 token for client index's user: users hold consecutive clients (as a user's tabs), so
// the clients of one window belong to different users.
std::string Load::token_for(int index) const {
    auto base64url = [](std::string_view bytes) {
        static constexpr char kAlphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        std::string out;
        uint32_t bits = 0;
        int count = 0;
        for (unsigned char c : bytes) {
            bits = (bits << 8) | c;
            count += 8;
            while (count >= 6) {
                count -= 6;
                out += kAlphabet[(bits >> count) & 63];
            }
        }
        if (count > 0) out += kAlphabet[(bits << (6 - count)) & 63];
        return out;
    };
    const int64_t user = int64_t(index) * m_options.users / m_options.clients;
    const std::string claims = "{\"sub\":\"u" + std::to_string(user) + "\",\"exp\":" +
                               std::to_string(std::time(nullptr) + 86400) +
                               ",\"pgsync\":{\"tables\":{\"" + m_options.table + "\":{}}}}";
    const std::string signing_input =
        base64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") + "." + base64url(claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    HMAC(EVP_sha256(), m_options.jwt_secret.data(), int(m_options.jwt_secret.size()),
         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
         &mac_size);
    return signing_input + "." +
           base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
}

void Load::print_phase(const char* type, const std::string& name, const Tally& tally,
                       double seconds) {
    std::printf("{\"type\":\"%s\",\"name\":\"%s\",\"seconds\":%.3f,\"changes\":%llu,"
                "\"changes_per_s\":%.0f,\"frames\":%llu,\"frames_per_s\":%.0f,"
                "\"mb_per_s\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,"
                "\"errors\":%llu,\"disconnects\":%llu,\"bad_ts\":%llu,\"other\":%llu,\"open\":%d,"
                "\"expected\":%llu,\"drain_seconds\":%.3f,\"complete\":%s}\n",
                type, name.c_str(), seconds, (unsigned long long)tally.changes,
                double(tally.changes) / seconds, (unsigned long long)tally.frames,
                double(tally.frames) / seconds, double(tally.bytes) / seconds / 1e6,
                tally.latency.quantile_ms(0.50), tally.latency.quantile_ms(0.99),
                tally.latency.max_ms(), (unsigned long long)tally.errors,
                (unsigned long long)tally.disconnects, (unsigned long long)tally.bad_ts,
                (unsigned long long)tally.other, m_open,
                (unsigned long long)m_drain_expected,
                m_mark > 0 ? monotonic_s() - m_mark : 0.0,
                !m_draining || tally.changes >= m_drain_expected ? "true" : "false");
    std::fflush(stdout);
}

void Load::end_phase(double now) {
    if (m_in_phase) print_phase("phase", m_phase_name, m_phase, now - m_phase_start);
    m_in_phase = false;
    m_draining = false;
    m_drain_expected = 0;
    m_mark = 0;
    m_phase.clear();
    m_phase_tag.clear();
}

void Load::print_window(double now) {
    double seconds = now - m_window_start;
    std::printf("{\"type\":\"window\",\"t\":%.1f,\"phase\":\"%s\",\"connected\":%d,\"open\":%d,"
                "\"up_to_date\":%d,\"changes\":%llu,\"changes_per_s\":%.0f,\"frames_per_s\":%.0f,"
                "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"errors\":%llu,"
                "\"disconnects\":%llu}\n",
                now - m_start, m_in_phase ? m_phase_name.c_str() : "", m_connected, m_open,
                m_up_to_date, (unsigned long long)m_window.changes,
                double(m_window.changes) / seconds, double(m_window.frames) / seconds,
                m_window.latency.quantile_ms(0.50), m_window.latency.quantile_ms(0.99),
                m_window.latency.max_ms(), (unsigned long long)m_window.errors,
                (unsigned long long)m_window.disconnects);
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
        if (n == 0) {
            // stdin closed: no more commands; keep running until the duration or a signal.
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, 0, nullptr);
        }
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
            if (size_t space = m_phase_name.find(' '); space != std::string::npos) {
                m_phase_tag = m_phase_name.substr(space + 1);
                m_phase_name.resize(space);
            }
            m_in_phase = true;
            m_phase_start = now;
        } else if (line == "mark") {
            m_mark = 0;
            print_phase("mark", m_phase_name, m_phase, now - m_phase_start);
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
            std::fprintf(stderr, "serve_load: unknown command \"%s\"\n", line.c_str());
        }
    }
}

int Load::run() {
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    ::fcntl(0, F_SETFL, ::fcntl(0, F_GETFL) | O_NONBLOCK);
    epoll_event stdin_event{};
    stdin_event.events = EPOLLIN;
    stdin_event.data.u64 = UINT64_MAX;
    bool watch_stdin = ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, 0, &stdin_event) == 0;
    (void)watch_stdin; // a regular file or /dev/null cannot be watched: no commands then

    m_start = m_window_start = m_total_start = monotonic_s();
    std::vector<epoll_event> events(4096);
    int next = 0;
    bool timeout_reported = false;
    while (!g_stop && !m_quit) {
        double now = monotonic_s();
        // Connections at --connect-rate, so the server's accept queue is not flooded.
        int due = std::min(m_options.clients,
                           int((now - m_start) * m_options.connect_rate) + 1);
        while (next < due) open_connection(next++);

        int n = ::epoll_wait(m_epoll, events.data(), int(events.size()), next < m_options.clients ? 1 : 50);
        if (n < 0 && errno != EINTR) {
            std::perror("serve_load: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            if (events[size_t(i)].data.u64 == UINT64_MAX) {
                read_commands();
                continue;
            }
            on_event(int(events[size_t(i)].data.u64), events[size_t(i)].events);
        }
        now = monotonic_s();
        if (now - m_window_start >= m_options.window) print_window(now);
        if (m_draining && (m_phase.changes >= m_drain_expected || now >= m_drain_deadline))
            end_phase(now);
        if (m_all_up_to_date_at == 0 && !timeout_reported &&
            now - m_start > m_options.subscribe_timeout) {
            timeout_reported = true;
            std::printf("{\"type\":\"subscribe-timeout\",\"up_to_date\":%d,\"open\":%d,"
                        "\"connect_failures\":%d}\n",
                        m_up_to_date, m_open, m_connect_failures);
            std::fflush(stdout);
        }
        if (m_options.duration > 0 && m_all_up_to_date_at > 0 &&
            now - m_all_up_to_date_at >= m_options.duration)
            break;
    }
    double now = monotonic_s();
    end_phase(now);
    m_total.latency.clear(); // the total counts; its latencies were not kept
    std::printf("{\"type\":\"total\",\"seconds\":%.3f,\"connect_failures\":%d,\"connected\":%d,"
                "\"up_to_date\":%d,\"open\":%d,\"snapshot_rows\":%llu,\"changes\":%llu,"
                "\"frames\":%llu,\"errors\":%llu,\"disconnects\":%llu,\"bad_ts\":%llu}\n",
                now - m_start, m_connect_failures, m_connected, m_up_to_date, m_open,
                (unsigned long long)m_snapshot_rows, (unsigned long long)m_total.changes,
                (unsigned long long)m_total.frames, (unsigned long long)m_total.errors,
                (unsigned long long)m_total.disconnects, (unsigned long long)m_total.bad_ts);
    std::fflush(stdout);
    for (Client& client : m_clients)
        if (client.fd >= 0) ::close(client.fd);
    return 0;
}

void usage(FILE* out) {
    std::fputs(
        "Usage: pgsync_serve_load --port PORT [OPTIONS]\n"
        "\n"
        "Opens N WebSocket connections to pgsync-serve's /v1/ws, client i making K\n"
        "subscriptions, subscription j to shape ((i * K + j) % M) + 1, with where\n"
        "\"shape = $1 AND v >= $2\", params [shape, 0] (or --where with params [shape]),\n"
        "and measures, for every live change, arrival time - the row's \"ts\" column. Prints\n"
        "one JSON object per line: a window every --window seconds, \"subscribed\" when every\n"
        "client has every subscription's first up-to-date, a phase summary per phase, a total.\n"
        "Commands on stdin: \"phase NAME [TAG]\" (start a phase; with TAG only live inserts\n"
        "of rows whose \"body\" is TAG are timed, other changes are counted as \"other\"),\n"
        "\"mark\" (print its counts so far), \"end [N [S]]\" (print its summary, after N\n"
        "changes or S seconds), \"quit\".\n"
        "\n"
        "Options:\n"
        "  --host ADDR            IPv4 address of the server (default 127.0.0.1)\n"
        "  --port PORT            port of the server (required)\n"
        "  --clients N            connections (default 10000)\n"
        "  --shapes M             distinct shapes (default 1000)\n"
        "  --table NAME           table to subscribe to (default public.bench)\n"
        "  --connect-rate R       new connections per second (default 2000)\n"
        "  --duration S           seconds to run after every client is up to date\n"
        "                         (default 0: until \"quit\", SIGINT or SIGTERM)\n"
        "  --window S             seconds per window line (default 1)\n"
        "  --subscribe-timeout S  report when not every client is up to date by then (default 300)\n"
        "  --subscriptions-per-client K  subscriptions per connection (default 1)\n"
        "  --where TEXT           the filter, with $1 the shape number (default as above)\n"
        "  --window-order TEXT    with --window-limit: ordered windows, e.g. \"ts desc\"\n"
        "  --window-limit N       rows per window (1 to 1000)\n"
        "  --jwt-secret S         present HS256 tokens signed with S (default: none, for\n"
        "                         --insecure); client i's subject is u(i * U / N)\n"
        "  --users U              distinct token subjects (default 1000)\n"
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
            std::fprintf(stderr, "serve_load: error: unknown option or missing value \"%s\"\n"
                                 "Try \"pgsync_serve_load --help\" for more information.\n",
                         argv[i]);
            return 2;
        }
        const char* value = argv[++i];
        if (arg == "--host") options.host = value;
        else if (arg == "--port") options.port = std::atoi(value);
        else if (arg == "--clients") options.clients = std::atoi(value);
        else if (arg == "--shapes") options.shapes = std::atoi(value);
        else if (arg == "--table") options.table = value;
        else if (arg == "--connect-rate") options.connect_rate = std::atof(value);
        else if (arg == "--duration") options.duration = std::atof(value);
        else if (arg == "--window") options.window = std::atof(value);
        else if (arg == "--subscribe-timeout") options.subscribe_timeout = std::atof(value);
        else if (arg == "--subscriptions-per-client") options.subscriptions_per_client = std::atoi(value);
        else if (arg == "--where") options.where = value;
        else if (arg == "--window-order") options.window_order = value;
        else if (arg == "--window-limit") options.window_limit = std::atoi(value);
        else if (arg == "--jwt-secret") options.jwt_secret = value;
        else if (arg == "--users") options.users = std::atoi(value);
        else {
            std::fprintf(stderr, "serve_load: error: unknown option \"%s\"\n"
                                 "Try \"pgsync_serve_load --help\" for more information.\n",
                         argv[i - 1]);
            return 2;
        }
    }
    if (options.port <= 0 || options.port > 65535 || options.clients <= 0 || options.shapes <= 0 ||
        options.connect_rate <= 0 || options.window <= 0 || options.users <= 0 ||
        options.subscriptions_per_client <= 0 || options.subscriptions_per_client > 100) {
        std::fprintf(stderr, "serve_load: error: --port, --clients, --shapes, --connect-rate, "
                             "--window and --users need positive values, and "
                             "--subscriptions-per-client 1 to 100\n"
                             "Try \"pgsync_serve_load --help\" for more information.\n");
        return 2;
    }
    if (options.window_order.empty() != (options.window_limit <= 0)) {
        std::fprintf(stderr, "serve_load: error: --window-order and --window-limit go together\n"
                             "Try \"pgsync_serve_load --help\" for more information.\n");
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
        std::fprintf(stderr, "serve_load: error: %d clients need more file descriptors than the "
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
